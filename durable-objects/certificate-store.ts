// The DomainCertificate object's SQLite storage: its schema (versioned, applied when the object
// starts), the lifecycle state row, challenge tokens, wrapped keys, the certificate history and
// the transition log. Keys are stored only wrapped (src/pki/key-wrap.ts).
import type { CertificateStore, StoredCertificate } from "../src/issuance/runner";
import type { CertificateState, TransitionEvent } from "../src/issuance/state";

// Each version's statements can run again (IF NOT EXISTS): an object that stopped between a
// statement and the version's record finishes the job on its next start.
const schema: readonly string[][] = [
  [
    "CREATE TABLE IF NOT EXISTS lifecycle (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL, revision INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS challenges (token TEXT PRIMARY KEY, key_authorization TEXT NOT NULL, created_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, wrapped TEXT NOT NULL, order_url TEXT NOT NULL, created_at TEXT NOT NULL)",
    `CREATE TABLE IF NOT EXISTS certificates (
       serial TEXT PRIMARY KEY, key_id TEXT NOT NULL REFERENCES keys (id), chain_pem TEXT NOT NULL,
       not_before TEXT NOT NULL, not_after TEXT NOT NULL, issuer TEXT, names TEXT NOT NULL,
       order_url TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, deployed_at TEXT)`,
    `CREATE TABLE IF NOT EXISTS events (
       id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, from_phase TEXT NOT NULL, to_phase TEXT NOT NULL,
       status TEXT NOT NULL, reason TEXT NOT NULL, error_code TEXT)`,
  ],
  [
    // A deleted domain whose removal from the TLS edge has not succeeded yet.
    "CREATE TABLE IF NOT EXISTS retirement (id INTEGER PRIMARY KEY CHECK (id = 1), domain TEXT NOT NULL, attempts INTEGER NOT NULL)",
  ],
  [
    // Whether the edge routes the domain to us (routed), or when to try again (next_at, ms).
    "CREATE TABLE IF NOT EXISTS edge_route (id INTEGER PRIMARY KEY CHECK (id = 1), domain TEXT NOT NULL, routed INTEGER NOT NULL, attempts INTEGER NOT NULL, next_at INTEGER)",
  ],
  [
    // The object's open order: noted before newOrder is sent (url NULL: it may have been placed
    // and not recorded), then its URL; gone once its certificate is downloaded. Kept when the
    // lifecycle drops the order (managed HTTPS off, the domain deleted), so that the next
    // attempt carries on with it while the CA still has it live, rather than place another.
    "CREATE TABLE IF NOT EXISTS open_order (id INTEGER PRIMARY KEY CHECK (id = 1), url TEXT, noted_at TEXT NOT NULL)",
  ],
];

/** How many transition events an object keeps. */
const eventsKept = 500;

export interface CertificateRecord {
  serial: string;
  notBefore: string;
  notAfter: string;
  issuer: string | null;
  names: string[];
  status: "downloaded" | "active" | "superseded";
  createdAt: string;
  deployedAt: string | null;
}

/** Whether the edge routes the domain to us; when not yet, when to try again (epoch ms). */
export interface EdgeRoute {
  domain: string;
  routed: boolean;
  attempts: number;
  nextAt: number | null;
}

export class SqlCertificateStore implements CertificateStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    const row = sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0];
    const current = row?.version ?? 0;
    for (const [index, statements] of schema.entries()) {
      if (index < current) continue;
      for (const statement of statements) sql.exec(statement);
    }
    if (!row) sql.exec("INSERT INTO schema_version (version) VALUES (?)", schema.length);
    else if (current < schema.length)
      sql.exec("UPDATE schema_version SET version = ?", schema.length);
  }

  /** The lifecycle state and its revision (which increases with every write). */
  load(): { state: CertificateState; revision: number } | null {
    const row = this.sql
      .exec<{ state: string; revision: number }>(
        "SELECT state, revision FROM lifecycle WHERE id = 1",
      )
      .toArray()[0];
    return row
      ? { state: JSON.parse(row.state) as CertificateState, revision: row.revision }
      : null;
  }

  /** Writes the state if nobody else wrote since `revision` was read; false otherwise. */
  save(state: CertificateState, revision: number | null): boolean {
    const current = this.load()?.revision ?? null;
    if (current !== revision) return false;
    this.sql.exec(
      "INSERT INTO lifecycle (id, state, revision) VALUES (1, ?1, 1) ON CONFLICT (id) DO UPDATE SET state = ?1, revision = revision + 1",
      JSON.stringify(state),
    );
    // Without an order in progress no challenge is waiting: none stays answerable at the edge.
    if (!state.order) this.clearChallenges();
    return true;
  }

  openOrder(): { url: string | null } | null {
    const row = this.sql
      .exec<{ url: string | null }>("SELECT url FROM open_order WHERE id = 1")
      .toArray()[0];
    return row ? { url: row.url } : null;
  }

  noteOpenOrder(url: string | null): void {
    this.sql.exec(
      "INSERT INTO open_order (id, url, noted_at) VALUES (1, ?1, ?2) ON CONFLICT (id) DO UPDATE SET url = ?1, noted_at = ?2",
      url,
      new Date().toISOString(),
    );
  }

  clearOpenOrder(): void {
    this.sql.exec("DELETE FROM open_order");
  }

  record(event: TransitionEvent): void {
    this.sql.exec(
      "INSERT INTO events (at, from_phase, to_phase, status, reason, error_code) VALUES (?, ?, ?, ?, ?, ?)",
      event.at,
      event.from,
      event.to,
      event.status,
      event.reason,
      event.errorCode,
    );
    this.sql.exec("DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?", eventsKept);
  }

  events(limit: number): TransitionEvent[] {
    return this.sql
      .exec<{
        at: string;
        from_phase: string;
        to_phase: string;
        status: string;
        reason: string;
        error_code: string | null;
      }>(
        "SELECT at, from_phase, to_phase, status, reason, error_code FROM events ORDER BY id DESC LIMIT ?",
        limit,
      )
      .toArray()
      .map(
        (r) =>
          ({
            at: r.at,
            from: r.from_phase,
            to: r.to_phase,
            status: r.status,
            reason: r.reason,
            errorCode: r.error_code,
          }) as TransitionEvent,
      );
  }

  putChallenge(token: string, keyAuthorization: string): void {
    this.sql.exec(
      "INSERT INTO challenges (token, key_authorization, created_at) VALUES (?, ?, ?) ON CONFLICT (token) DO UPDATE SET key_authorization = excluded.key_authorization",
      token,
      keyAuthorization,
      new Date().toISOString(),
    );
  }

  challenge(token: string): string | null {
    return (
      this.sql
        .exec<{ key_authorization: string }>(
          "SELECT key_authorization FROM challenges WHERE token = ?",
          token,
        )
        .toArray()[0]?.key_authorization ?? null
    );
  }

  clearChallenges(): void {
    this.sql.exec("DELETE FROM challenges");
  }

  keyForOrder(orderUrl: string): { id: string; wrapped: string } | null {
    return (
      this.sql
        .exec<{ id: string; wrapped: string }>(
          "SELECT id, wrapped FROM keys WHERE order_url = ? ORDER BY created_at DESC LIMIT 1",
          orderUrl,
        )
        .toArray()[0] ?? null
    );
  }

  putKey(key: { id: string; wrapped: string; orderUrl: string }): void {
    this.sql.exec(
      "INSERT INTO keys (id, wrapped, order_url, created_at) VALUES (?, ?, ?, ?)",
      key.id,
      key.wrapped,
      key.orderUrl,
      new Date().toISOString(),
    );
  }

  putCertificate(c: StoredCertificate): void {
    this.sql.exec(
      `INSERT INTO certificates (serial, key_id, chain_pem, not_before, not_after, issuer, names, order_url, status, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'downloaded', ?) ON CONFLICT (serial) DO NOTHING`,
      c.serial,
      c.keyId,
      c.chainPem,
      c.notBefore,
      c.notAfter,
      c.issuer,
      JSON.stringify(c.names),
      c.orderUrl,
      new Date().toISOString(),
    );
  }

  certificate(serial: string): (StoredCertificate & { wrappedKey: string }) | null {
    const row = this.sql
      .exec<{
        serial: string;
        key_id: string;
        chain_pem: string;
        not_before: string;
        not_after: string;
        issuer: string | null;
        names: string;
        order_url: string;
        wrapped: string;
      }>(
        `SELECT c.serial, c.key_id, c.chain_pem, c.not_before, c.not_after, c.issuer, c.names, c.order_url, k.wrapped
         FROM certificates c JOIN keys k ON k.id = c.key_id WHERE c.serial = ?`,
        serial,
      )
      .toArray()[0];
    if (!row) return null;
    return {
      serial: row.serial,
      keyId: row.key_id,
      chainPem: row.chain_pem,
      notBefore: row.not_before,
      notAfter: row.not_after,
      issuer: row.issuer,
      names: JSON.parse(row.names) as string[],
      orderUrl: row.order_url,
      wrappedKey: row.wrapped,
    };
  }

  /** The serial becomes the one served; the one before it is kept in the history as superseded. */
  activate(serial: string): void {
    const now = new Date().toISOString();
    this.sql.exec(
      "UPDATE certificates SET status = 'superseded' WHERE status = 'active' AND serial != ?",
      serial,
    );
    this.sql.exec(
      "UPDATE certificates SET status = 'active', deployed_at = COALESCE(deployed_at, ?) WHERE serial = ?",
      now,
      serial,
    );
  }

  retirement(): { domain: string; attempts: number } | null {
    return (
      this.sql
        .exec<{ domain: string; attempts: number }>(
          "SELECT domain, attempts FROM retirement WHERE id = 1",
        )
        .toArray()[0] ?? null
    );
  }

  setRetirement(domain: string, attempts: number): void {
    this.sql.exec(
      "INSERT INTO retirement (id, domain, attempts) VALUES (1, ?1, ?2) ON CONFLICT (id) DO UPDATE SET domain = ?1, attempts = ?2",
      domain,
      attempts,
    );
  }

  clearRetirement(): void {
    this.sql.exec("DELETE FROM retirement");
  }

  edgeRoute(): EdgeRoute | null {
    const row = this.sql
      .exec<{ domain: string; routed: number; attempts: number; next_at: number | null }>(
        "SELECT domain, routed, attempts, next_at FROM edge_route WHERE id = 1",
      )
      .toArray()[0];
    return row
      ? {
          domain: row.domain,
          routed: row.routed === 1,
          attempts: row.attempts,
          nextAt: row.next_at,
        }
      : null;
  }

  setEdgeRoute(route: EdgeRoute): void {
    this.sql.exec(
      "INSERT INTO edge_route (id, domain, routed, attempts, next_at) VALUES (1, ?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET domain = ?1, routed = ?2, attempts = ?3, next_at = ?4",
      route.domain,
      route.routed ? 1 : 0,
      route.attempts,
      route.nextAt,
    );
  }

  history(): CertificateRecord[] {
    return this.sql
      .exec<{
        serial: string;
        not_before: string;
        not_after: string;
        issuer: string | null;
        names: string;
        status: CertificateRecord["status"];
        created_at: string;
        deployed_at: string | null;
      }>(
        "SELECT serial, not_before, not_after, issuer, names, status, created_at, deployed_at FROM certificates ORDER BY created_at DESC",
      )
      .toArray()
      .map((r) => ({
        serial: r.serial,
        notBefore: r.not_before,
        notAfter: r.not_after,
        issuer: r.issuer,
        names: JSON.parse(r.names) as string[],
        status: r.status,
        createdAt: r.created_at,
        deployedAt: r.deployed_at,
      }));
  }
}
