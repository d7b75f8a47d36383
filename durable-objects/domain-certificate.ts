// One Durable Object per tracking domain (named by the domain; EU domains in the eu
// jurisdiction): the lock, the scheduler and the store of its certificate lifecycle. Each alarm
// performs one step (src/issuance/runner.ts), decides the next state (machine.ts), persists it
// with an event, mirrors the public status into D1 and sets the next alarm. Glue only.
import { DurableObject } from "cloudflare:workers";
import { budgetUsed, chargeBudget } from "../src/accounts/budgets";
import { AcmeClient } from "../src/acme/client";
import { importAccountKey } from "../src/acme/jws";
import { AcmeNetworkError } from "../src/acme/problem";
import { loadConfig } from "../src/config";
import { deployerFor, managedEdgeFor } from "../src/deploy";
import { createDohResolver } from "../src/dns/doh";
import type { Region, TlsState } from "../src/domains/model";
import { proxyProber } from "../src/domains/proxy-probe";
import { eligibilityFactsOf, holderOf, mirrorCertificateStatus } from "../src/domains/repository";
import { eligibilityContextFor } from "../src/issuance/eligibility";
import {
  alarmAt,
  type Decision,
  decide,
  disable,
  enable,
  installedDue,
  isStuck,
  refreshStatus,
  startRenewal,
} from "../src/issuance/machine";
import { performManagedStep } from "../src/issuance/managed-runner";
import { performStep, type StepContext } from "../src/issuance/runner";
import { type CertificateState, initialState, type TransitionEvent } from "../src/issuance/state";
import { type KeyRing, KeyRingError, parseKeyRing, unwrapKey } from "../src/pki/key-wrap";
import { logProblem, messageOf } from "../src/util/log";
import { deliverChangesOf } from "../src/webhooks/delivery";
import { type CertificateRecord, SqlCertificateStore } from "./certificate-store";
import { accountKeyContext, acmeAccountStub } from "./stubs";

export interface CertificateView {
  domain: string;
  enabled: boolean;
  status: CertificateState["status"];
  step: CertificateState["phase"];
  stuck: boolean;
  progressAt: string;
  nextRunAt: string | null;
  failures: number;
  error: CertificateState["error"];
  current: CertificateState["current"];
  /** The serving certificate's chain (public; never the key). */
  chainPem: string | null;
  history: CertificateRecord[];
}

/** What the edge-pull endpoint hands a TLS terminator (the key still wrapped). */
export interface EdgeCertificate {
  serial: string;
  chainPem: string;
  notAfter: string;
  wrappedKey: string;
}

/** Mirroring to D1 failed: try again this soon, even when no step is due. */
const mirrorRetryMs = 10_000;

/** Waits between attempts to add a domain to the edge or take it off: 5 s, 30 s, 3 min, … a day. */
const edgeRetryDelayMs = (attempts: number) => Math.min(5000 * 6 ** (attempts - 1), 86_400_000);

export class DomainCertificate extends DurableObject<Env> {
  #store: SqlCertificateStore;
  #keyRing: Promise<KeyRing> | undefined;
  #account:
    | Promise<{
        client: AcmeClient;
        signer: { key: Awaited<ReturnType<typeof importAccountKey>>; accountUrl: string };
      }>
    | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new SqlCertificateStore(ctx.storage.sql);
  }

  /** Start (or restart) issuance for `domain`; harmless when it is already under way. */
  async enable(domain: string, region: Region): Promise<CertificateView> {
    // Created again after a deletion whose edge removal is still pending: it deploys anew instead.
    this.#store.clearRetirement();
    const loaded = this.#store.load();
    const state = loaded?.state ?? initialState(domain, region, new Date());
    if (state.domain !== domain)
      throw new Error(`this object belongs to ${state.domain}, not ${domain}`);
    // Already working on it: leave it be. Waiting to retry after a failure: try again now.
    const busy = state.enabled && state.phase !== "idle" && state.failures === 0;
    if (!busy)
      await this.#apply(enable({ ...state, region }, new Date()), loaded?.revision ?? null);
    return this.view();
  }

  async disable(): Promise<CertificateView> {
    const loaded = this.#store.load();
    if (loaded?.state.enabled)
      await this.#apply(disable(loaded.state, new Date()), loaded.revision);
    return this.view();
  }

  /**
   * The domain is deleted: forget everything, keys included, and take it off the TLS edge (from
   * the alarm; until the edge confirms, only a note of the domain's name is kept).
   */
  async destroy(domain?: string): Promise<void> {
    const name = this.#store.load()?.state.domain ?? domain;
    const deployed =
      this.#store.history().length > 0 ||
      this.#store.retirement() !== null ||
      this.#store.edgeRoute() !== null;
    await this.ctx.storage.deleteAlarm();
    await this.#forgetAllButOpenOrder();
    if (name && deployed) {
      // Off the edge from the alarm, right away: the caller (an API request) does not wait.
      this.#store.setRetirement(name, 0);
      await this.ctx.storage.setAlarm(Date.now());
    }
  }

  /**
   * The domain is verified: make sure the edge sends its requests to us, certificate or not. When
   * the edge cannot be reached, the alarm tries again (and the events say so). True when routed.
   */
  async routeToEdge(domain: string): Promise<boolean> {
    const retiring = this.#store.retirement();
    if (retiring) {
      // A domain that ended here (deleted, or claimed by another account) is back before the
      // edge let go of it: what the edge holds of it goes first, then the name is routed anew.
      await this.#retire(retiring.domain, retiring.attempts);
      if (this.#store.retirement()) return false;
    }
    const current = this.#store.edgeRoute();
    if (current?.routed) return true;
    return this.#route(domain, current?.attempts ?? 0);
  }

  /** The certificate a TLS terminator should serve: the current one, or `serial` being deployed. */
  async edgeCertificate(serial?: string): Promise<EdgeCertificate | null> {
    const state = this.#store.load()?.state;
    if (!state) return null;
    const wanted =
      serial === undefined
        ? state.current?.serial
        : serial === state.current?.serial ||
            (state.phase === "deploy" && serial === state.candidate?.serial)
          ? serial
          : undefined;
    const stored = wanted ? this.#store.certificate(wanted) : null;
    if (!stored || Date.parse(stored.notAfter) <= Date.now()) return null;
    return {
      serial: stored.serial,
      chainPem: stored.chainPem,
      notAfter: stored.notAfter,
      wrappedKey: stored.wrappedKey,
    };
  }

  /** The key authorization for an HTTP-01 token, if this object is waiting for that challenge. */
  async challenge(token: string): Promise<string | null> {
    return this.#store.challenge(token);
  }

  /** Records something that happened to the domain outside the lifecycle (an HTTPS mode change). */
  async note(domain: string, region: Region, reason: string): Promise<void> {
    this.#note(reason, initialState(domain, region, new Date()));
  }

  /** An event that leaves the lifecycle where it is. */
  #note(reason: string, fallback?: CertificateState): void {
    const state = this.#store.load()?.state ?? fallback;
    this.#store.record({
      at: new Date().toISOString(),
      from: state?.phase ?? "idle",
      to: state?.phase ?? "idle",
      status: state?.status ?? "unknown",
      reason,
      errorCode: null,
    });
  }

  async view(): Promise<CertificateView> {
    const state = this.#store.load()?.state;
    const now = new Date();
    return {
      domain: state?.domain ?? "",
      enabled: state?.enabled ?? false,
      status: state?.status ?? "unknown",
      step: state?.phase ?? "idle",
      stuck: state ? isStuck(state, now) : false,
      progressAt: state?.progressAt ?? now.toISOString(),
      nextRunAt: state?.nextRunAt ?? null,
      failures: state?.failures ?? 0,
      error: state?.error ?? null,
      current: state?.current ?? null,
      chainPem: state?.current
        ? (this.#store.certificate(state.current.serial)?.chainPem ?? null)
        : null,
      history: this.#store.history(),
    };
  }

  async events(limit = 100): Promise<TransitionEvent[]> {
    return this.#store.events(Math.min(Math.max(limit, 1), 500));
  }

  /**
   * One step at a time: an alarm that arrives while another is still performing its step (an
   * RPC-driven alarm in tests, or whatever a runtime might do) leaves it to that one, which
   * re-arms when it is done. Two steps side by side would send the CA the same request twice.
   */
  override async alarm(): Promise<void> {
    if (this.#stepping) return;
    this.#stepping = true;
    try {
      await this.#alarm();
    } finally {
      this.#stepping = false;
    }
  }

  #stepping = false;

  async #alarm(): Promise<void> {
    const retiring = this.#store.retirement();
    if (retiring) return this.#retire(retiring.domain, retiring.attempts);
    const route = this.#store.edgeRoute();
    if (route && !route.routed && route.nextAt !== null && route.nextAt <= Date.now())
      await this.#route(route.domain, route.attempts);
    let loaded = this.#store.load();
    if (!loaded?.state.enabled) return;
    // Time alone may have changed the status: a serving certificate expires.
    const expired = refreshStatus(loaded.state, new Date());
    if (expired) {
      if (!(await this.#apply(expired, loaded.revision, false))) return;
      loaded = this.#store.load();
      if (!loaded) return;
    }
    const { state, revision } = loaded;
    const now = new Date();
    if (state.phase === "installed") {
      const due = installedDue(state, now);
      if (due === "renew") {
        // Renewal: the checks again and a new order, while the old certificate keeps serving.
        await this.#apply(startRenewal(state, now), revision);
        return;
      }
      if (due === "nothing") return this.#mirrorAndArm(state);
    } else if (!state.nextRunAt || Date.parse(state.nextRunAt) > now.getTime()) {
      // Early (alarms are at least once, and a write may have moved the schedule): re-arm.
      return this.#mirrorAndArm(state);
    }
    const managed = managedEdgeFor(this.env);
    const outcome = managed
      ? await performManagedStep(state, { eligibility: () => this.#eligibility(), edge: managed })
      : await performStep(state, this.#stepContext());
    await this.#apply(decide(state, outcome, new Date()), revision);
  }

  /**
   * The sweep's poke: if something is due (or the alarm was lost), run now. Idempotent; cheap
   * when nothing is due. True when the object had work to do.
   */
  async wake(): Promise<boolean> {
    const state = this.#store.load()?.state;
    const due = state ? alarmAt(state) : null;
    if (!state || !due) return false;
    const scheduled = await this.ctx.storage.getAlarm();
    if (Date.parse(due) <= Date.now() || scheduled === null) {
      await this.ctx.storage.setAlarm(Math.min(Date.parse(due), Date.now()));
      return true;
    }
    return false;
  }

  /** Persists a decision if nothing else changed the state meanwhile, then mirrors and re-arms. */
  async #apply(decision: Decision, revision: number | null, arm = true): Promise<boolean> {
    if (!this.#store.save(decision.state, revision)) return false;
    this.#store.record(decision.event);
    if (arm) await this.#mirrorAndArm(decision.state);
    return true;
  }

  async #mirrorAndArm(state: CertificateState): Promise<void> {
    let mirrored = true;
    try {
      const exists = await mirrorCertificateStatus(this.env.DB, state.domain, publicTls(state));
      if (!exists) {
        // The domain was deleted while this object was busy: stop for good.
        await this.destroy(state.domain);
        return;
      }
    } catch (error) {
      mirrored = false;
      logProblem("mirror_failed", { domain: state.domain, message: messageOf(error) });
    }
    const nextAlarm = alarmAt(state);
    const route = this.#store.edgeRoute();
    const at = Math.min(
      nextAlarm ? Date.parse(nextAlarm) : Number.POSITIVE_INFINITY,
      mirrored ? Number.POSITIVE_INFINITY : Date.now() + mirrorRetryMs,
      route && !route.routed && route.nextAt !== null ? route.nextAt : Number.POSITIVE_INFINITY,
    );
    if (!Number.isFinite(at)) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(at);
    // If the mirror changed what a webhook hears of, a D1 trigger wrote the event: send it now,
    // once the next step is armed.
    if (mirrored) await deliverChangesOf(this.env, { domain: state.domain });
  }

  #stepContext(): StepContext {
    return {
      acme: () => this.#acme(),
      refreshAccount: async (stale) => {
        this.#account = undefined;
        await acmeAccountStub(this.env).refresh(stale);
      },
      eligibility: async () => this.#eligibility((await this.#acme()).signer.accountUrl),
      keyRing: () => this.#ring(),
      store: this.#store,
      deployer: () => deployerFor(this.env),
      admitNewOrder: () => this.#admitNewOrder(),
    };
  }

  /** The eligibility check's facts; `accountUri` is our ACME account's, for CAA accounturi. */
  async #eligibility(accountUri?: string) {
    const config = loadConfig(this.env);
    const resolver = createDohResolver({ url: config.dohUrl });
    const state = this.#store.load()?.state;
    const domain = state?.domain ?? "";
    return eligibilityContextFor(
      config,
      resolver,
      {
        region: state?.region ?? "us",
        ...(accountUri ? { accountUri } : {}),
        ...(await eligibilityFactsOf(this.env.DB, domain)),
      },
      { probeProxy: proxyProber(this.env, config, resolver, domain) },
    );
  }

  /** Takes one of the domain's account's new orders for this hour (NEW_ORDERS_PER_ACCOUNT_PER_HOUR). */
  async #admitNewOrder(): Promise<
    { admitted: true } | { admitted: false; until: string; detail: string }
  > {
    const domain = this.#store.load()?.state.domain ?? "";
    const now = new Date();
    const holder = await holderOf(this.env.DB, domain);
    if (!holder) {
      // Deleted meanwhile: the mirror that follows notices and stops the object.
      return {
        admitted: false,
        until: new Date(now.getTime() + 60_000).toISOString(),
        detail: `${domain} is no longer a tracking domain.`,
      };
    }
    const limit = loadConfig(this.env).limits.newOrdersPerHour;
    const charged = await chargeBudget(this.env.DB, holder.accountId, "new_orders", limit, now);
    if (charged) return { admitted: true };
    const { resetsAt } = await budgetUsed(this.env.DB, holder.accountId, "new_orders", now);
    // Spread over the next minute, so that the account's waiting domains do not all order at once.
    const until = new Date(resetsAt.getTime() + Math.floor(Math.random() * 60_000));
    return {
      admitted: false,
      until: until.toISOString(),
      detail: `This account has started ${limit} new certificate orders this hour, its limit (NEW_ORDERS_PER_ACCOUNT_PER_HOUR); this one is placed at ${until.toISOString()}.`,
    };
  }

  /** Adds the domain to the edge; on failure, notes it and sets the alarm to try again. */
  async #route(domain: string, attempts: number): Promise<boolean> {
    try {
      await deployerFor(this.env).route(domain);
      this.#store.setEdgeRoute({ domain, routed: true, attempts: 0, nextAt: null });
      return true;
    } catch (error) {
      const next = attempts + 1;
      const nextAt = Date.now() + edgeRetryDelayMs(next);
      const message = messageOf(error);
      logProblem("edge_route_failed", { domain, attempts: next, message });
      this.#store.setEdgeRoute({ domain, routed: false, attempts: next, nextAt });
      this.#note(
        `Could not add the domain to the TLS edge (${message}); trying again at ${new Date(nextAt).toISOString()}.`,
      );
      const scheduled = await this.ctx.storage.getAlarm();
      if (scheduled === null || scheduled > nextAt) await this.ctx.storage.setAlarm(nextAt);
      return false;
    }
  }

  /**
   * Forgets everything (keys included) but the open order, which outlives the domain: a domain
   * created again carries on with it while the CA still has it live.
   */
  async #forgetAllButOpenOrder(): Promise<void> {
    const open = this.#store.openOrder();
    await this.ctx.storage.deleteAll();
    this.#store = new SqlCertificateStore(this.ctx.storage.sql);
    if (open) this.#store.noteOpenOrder(open.url);
  }

  /** Takes a deleted domain off the edge; on failure, notes it and tries again later. */
  async #retire(domain: string, attempts: number): Promise<void> {
    try {
      await deployerFor(this.env).remove(domain);
      await this.#forgetAllButOpenOrder();
    } catch (error) {
      const next = attempts + 1;
      logProblem("edge_removal_failed", { domain, attempts: next, message: messageOf(error) });
      this.#store.setRetirement(domain, next);
      await this.ctx.storage.setAlarm(Date.now() + edgeRetryDelayMs(next));
    }
  }

  #ring(): Promise<KeyRing> {
    this.#keyRing ??= parseKeyRing(this.env.KEY_ENCRYPTION_KEYS);
    this.#keyRing.catch(() => {
      this.#keyRing = undefined;
    });
    return this.#keyRing;
  }

  /** The deployment's ACME account, from the AcmeAccount object, kept for this object's life. */
  #acme() {
    this.#account ??= (async () => {
      const config = loadConfig(this.env);
      const account = await acmeAccountStub(this.env)
        .account()
        .catch((error: Error) => {
          // Errors cross the RPC boundary as plain Errors: give them back their meaning here.
          if (error.name === "KeyRingError") throw new KeyRingError(error.message);
          throw new AcmeNetworkError(
            `the ACME account is not available: ${error.message}`,
            config.acme.directoryUrl,
            false,
          );
        });
      const jwk = JSON.parse(
        new TextDecoder().decode(
          await unwrapKey(
            await this.#ring(),
            account.wrappedKey,
            accountKeyContext(config.acme.directoryUrl),
          ),
        ),
      ) as JsonWebKey;
      return {
        client: new AcmeClient({ directoryUrl: config.acme.directoryUrl }),
        signer: { key: await importAccountKey(jwk), accountUrl: account.url },
      };
    })();
    this.#account.catch(() => {
      this.#account = undefined;
    });
    return this.#account;
  }
}

/** The public status this state stands for, as D1 keeps it. */
function publicTls(state: CertificateState): TlsState {
  return {
    status: state.status,
    issuedAt: state.current?.issuedAt ?? null,
    expiresAt: state.current?.notAfter ?? null,
    renewsAt: state.current && state.enabled ? state.current.renewsAt : null,
    errorCode: state.error?.code ?? null,
    errorDetail: state.error?.detail ?? null,
    actionBy: state.error?.actionBy ?? null,
    step: state.enabled ? state.phase : null,
    progressAt: state.progressAt,
    nextRunAt: alarmAt(state),
  };
}
