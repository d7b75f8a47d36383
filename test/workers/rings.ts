// A fresh key ring with one key, in the shape of LINK_SIGNING_KEYS and KEY_ENCRYPTION_KEYS.
import { base64 } from "../../src/util/encoding";

export function generatedTestRing(id: string): { current: string; keys: Record<string, string> } {
  return { current: id, keys: { [id]: base64(crypto.getRandomValues(new Uint8Array(32))) } };
}
