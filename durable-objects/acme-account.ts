// The deployment's ACME account for one CA directory (one object, named by the directory URL):
// created once, on first use, with the contact address and External Account Binding from the
// configuration; its key kept wrapped like certificate keys. DomainCertificate objects ask it
// for the account and, when a CA has forgotten it, to register the same key again.
import { DurableObject } from "cloudflare:workers";
import { newAccount } from "../src/acme/account";
import { AcmeClient } from "../src/acme/client";
import { exportAccountKey, generateAccountKey, importAccountKey } from "../src/acme/jws";
import { loadConfig } from "../src/config";
import { parseKeyRing, unwrapKey, wrapKey } from "../src/pki/key-wrap";
import { fromUtf8, utf8 } from "../src/util/encoding";
import { accountKeyContext } from "./stubs";

export interface AccountRecord {
  directoryUrl: string;
  url: string;
  /** The account's private JWK, wrapped under KEY_ENCRYPTION_KEYS (see accountKeyContext). */
  wrappedKey: string;
}

export class AcmeAccount extends DurableObject<Env> {
  #creating: Promise<AccountRecord> | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS account (directory TEXT PRIMARY KEY, url TEXT NOT NULL, wrapped_key TEXT NOT NULL, created_at TEXT NOT NULL)",
    );
  }

  /** The account, created at the CA the first time anyone asks. */
  async account(): Promise<AccountRecord> {
    const stored = this.#stored();
    if (stored) return stored;
    // Requests may interleave while the CA answers: only one of them creates the account.
    this.#creating ??= this.#create().finally(() => {
      this.#creating = undefined;
    });
    return this.#creating;
  }

  /** The account URL if the account exists already (for CAA accounturi), without creating it. */
  async knownAccountUrl(): Promise<string | null> {
    return this.#stored()?.url ?? null;
  }

  /** The CA no longer knows `staleUrl`: register the same key again (same account, or a new URL). */
  async refresh(staleUrl: string): Promise<AccountRecord> {
    const stored = this.#stored();
    if (!stored || stored.url !== staleUrl) return this.account();
    const ring = await parseKeyRing(this.env.KEY_ENCRYPTION_KEYS);
    const jwk = JSON.parse(
      fromUtf8(await unwrapKey(ring, stored.wrappedKey, accountKeyContext(stored.directoryUrl))),
    ) as JsonWebKey;
    const url = await this.#register(await importAccountKey(jwk));
    this.ctx.storage.sql.exec(
      "UPDATE account SET url = ? WHERE directory = ?",
      url,
      stored.directoryUrl,
    );
    return { ...stored, url };
  }

  #stored(): AccountRecord | null {
    const row = this.ctx.storage.sql
      .exec<{ directory: string; url: string; wrapped_key: string }>(
        "SELECT directory, url, wrapped_key FROM account LIMIT 1",
      )
      .toArray()[0];
    return row ? { directoryUrl: row.directory, url: row.url, wrappedKey: row.wrapped_key } : null;
  }

  async #create(): Promise<AccountRecord> {
    const { directoryUrl } = loadConfig(this.env).acme;
    const ring = await parseKeyRing(this.env.KEY_ENCRYPTION_KEYS);
    const key = await generateAccountKey();
    const wrappedKey = await wrapKey(
      ring,
      utf8(JSON.stringify(await exportAccountKey(key))),
      accountKeyContext(directoryUrl),
    );
    const url = await this.#register(key);
    this.ctx.storage.sql.exec(
      "INSERT INTO account (directory, url, wrapped_key, created_at) VALUES (?, ?, ?, ?)",
      directoryUrl,
      url,
      wrappedKey,
      new Date().toISOString(),
    );
    return { directoryUrl, url, wrappedKey };
  }

  async #register(key: Awaited<ReturnType<typeof generateAccountKey>>): Promise<string> {
    const config = loadConfig(this.env);
    const client = new AcmeClient({ directoryUrl: config.acme.directoryUrl });
    const eab =
      this.env.ACME_EAB_KID && this.env.ACME_EAB_HMAC_KEY
        ? { kid: this.env.ACME_EAB_KID, hmacKey: this.env.ACME_EAB_HMAC_KEY }
        : undefined;
    const created = await newAccount(client, key, {
      contact: [`mailto:${config.acme.contactEmail}`],
      termsOfServiceAgreed: true,
      ...(eab ? { externalAccountBinding: eab } : {}),
    });
    return created.url;
  }
}
