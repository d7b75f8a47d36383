// Rewrites an email's HTML for tracking with HTMLRewriter: every http(s) link becomes a tracked
// link (its name from data-msys-linkname), an open pixel goes at the top and the bottom of the
// body. mailto:, tel:, fragments, relative links and links marked data-msys-clicktrack="0" are
// left exactly as they were; nothing else in the document changes.
import { decodeHTMLAttribute } from "entities";
import { targetProblem } from "./link-token";
import type { LinkMinter } from "./minting";

export interface RewriteResult {
  html: string;
  linksTracked: number;
  linksLeft: number;
}

const pixelHtml = (src: string) =>
  `<img src="${src}" width="1" height="1" alt="" border="0" style="display:block;width:1px;height:1px;border:0;" />`;

export async function rewriteHtml(html: string, minter: LinkMinter): Promise<RewriteResult> {
  let linksTracked = 0;
  let linksLeft = 0;
  let sawBody = false;
  const pixel = pixelHtml(await minter.open());
  const rewritten = await new HTMLRewriter()
    .on("a[href]", {
      async element(element) {
        if (element.getAttribute("data-msys-clicktrack") === "0") {
          linksLeft++;
          return;
        }
        // Attribute values come raw (entities and all); the target is what a browser would follow.
        const target = decodeHTMLAttribute(element.getAttribute("href") ?? "").trim();
        if (targetProblem(target)) {
          linksLeft++;
          return;
        }
        const name = element.getAttribute("data-msys-linkname");
        element.setAttribute(
          "href",
          await minter.click(target, name === null ? undefined : decodeHTMLAttribute(name)),
        );
        linksTracked++;
      },
    })
    .on("body", {
      element(element) {
        sawBody = true;
        element.prepend(pixel, { html: true });
        element.append(pixel, { html: true });
      },
    })
    .transform(new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } }))
    .text();
  return { html: sawBody ? rewritten : `${pixel}${rewritten}${pixel}`, linksTracked, linksLeft };
}
