// Operators' logs are one JSON object per line, named by `event`, whatever was thrown.
import { afterEach, describe, expect, it, vi } from "vitest";
import { logInfo, logProblem, messageOf } from "../../src/util/log";

afterEach(() => vi.restoreAllMocks());

describe("structured logs", () => {
  it("writes a problem as one JSON line on stderr with the event first", () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    logProblem("mirror_failed", { domain: "track.shop.test", message: "D1 is down" });
    expect(error).toHaveBeenCalledTimes(1);
    const line = error.mock.calls[0]?.[0] as string;
    expect(line).not.toContain("\n");
    expect(JSON.parse(line)).toEqual({
      event: "mirror_failed",
      domain: "track.shop.test",
      message: "D1 is down",
    });
    expect(Object.keys(JSON.parse(line))[0]).toBe("event");
  });

  it("writes what went well on stdout", () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    logInfo("sweep", { woken: 3 });
    expect(JSON.parse(log.mock.calls[0]?.[0] as string)).toEqual({ event: "sweep", woken: 3 });
  });

  it("says what was thrown, Error or not", () => {
    expect(messageOf(new TypeError("bad"))).toBe("bad");
    expect(messageOf("a string")).toBe("a string");
    expect(messageOf(undefined)).toBe("undefined");
  });
});
