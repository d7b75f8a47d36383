// The edge-pull deployer, for TLS terminators that fetch certificates from us by SNI
// (scripts/tls-edge.ts, or any edge that speaks GET /internal/v1/certificates). Deploying is
// announcing the new serial in the change feed (D1 certificate_changes); the terminator polls the
// feed and fetches the certificate and key through the authenticated pull endpoint. Nothing here
// sends a key anywhere.
import type { Deployer } from "./deployer";

export function edgePullDeployer(db: D1Database): Deployer {
  return {
    // A terminator in front of the worker forwards every name; there is nothing to register.
    async route() {},
    async deploy({ domain, serial }) {
      await db
        .prepare(
          "INSERT INTO certificate_changes (domain, change, serial) VALUES (?, 'deployed', ?)",
        )
        .bind(domain, serial)
        .run();
      return { edgeStatus: "announced in the change feed" };
    },
    async remove(domain) {
      await db
        .prepare("INSERT INTO certificate_changes (domain, change) VALUES (?, 'removed')")
        .bind(domain)
        .run();
    },
  };
}

export interface CertificateChange {
  cursor: number;
  domain: string;
  change: "deployed" | "removed";
  serial: string | null;
  at: string;
}

export interface ChangePage {
  changes: CertificateChange[];
  /** Pass this as `since` next time. */
  cursor: number;
  /** More changes wait after this page. */
  more: boolean;
  /**
   * The changes the caller missed are gone (pruned, or a new database): drop everything cached
   * and continue from `cursor`.
   */
  reset: boolean;
}

/** Changes after `since`, oldest first; with since null, none and the cursor to start from. */
export async function changesSince(
  db: D1Database,
  since: number | null,
  limit: number,
): Promise<ChangePage> {
  const bounds = await db
    .prepare("SELECT MIN(id) AS first, MAX(id) AS last FROM certificate_changes")
    .first<{ first: number | null; last: number | null }>();
  const last = bounds?.last ?? 0;
  if (since === null) return { changes: [], cursor: last, more: false, reset: false };
  const first = bounds?.first ?? last + 1;
  if (since > last || (since > 0 && since < first - 1) || (since === 0 && first > 1)) {
    return { changes: [], cursor: last, more: false, reset: true };
  }
  const rows = await db
    .prepare(
      "SELECT id, domain, change, serial, created_at FROM certificate_changes WHERE id > ? ORDER BY id LIMIT ?",
    )
    .bind(since, limit + 1)
    .all<{
      id: number;
      domain: string;
      change: CertificateChange["change"];
      serial: string | null;
      created_at: string;
    }>();
  const page = rows.results.slice(0, limit);
  return {
    changes: page.map((r) => ({
      cursor: r.id,
      domain: r.domain,
      change: r.change,
      serial: r.serial,
      at: r.created_at,
    })),
    cursor: page.at(-1)?.id ?? since,
    more: rows.results.length > limit,
    reset: false,
  };
}

/** How long the change feed keeps a change: an edge offline longer starts over. */
export const changeFeedRetentionMs = 7 * 24 * 3600_000;

/** Forgets changes older than `before` (the Cron's housekeeping). */
export async function pruneChanges(db: D1Database, before: Date): Promise<number> {
  const result = await db
    .prepare("DELETE FROM certificate_changes WHERE created_at < ?")
    .bind(before.toISOString())
    .run();
  return result.meta.changes;
}
