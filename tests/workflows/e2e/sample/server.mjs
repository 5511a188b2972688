// The app stand-in the rendered Playwright config starts (`npm run start`, PORT and HOSTNAME
// from its webServer) or that a test starts as "the deployed environment". One page with a
// button; every request's bypass header is appended to SEEN_HEADERS, one line each.
import { appendFileSync } from "node:fs";
import { createServer } from "node:http";

const page = `<!doctype html><title>sample</title><h1>Hello</h1>
<button onclick="document.getElementById('count').textContent = String(++window.clicks)">Add</button>
<p id="count">0</p><script>window.clicks = 0</script>`;

createServer((request, response) => {
  if (process.env.SEEN_HEADERS) {
    appendFileSync(
      process.env.SEEN_HEADERS,
      `${request.url} ${request.headers["x-vercel-protection-bypass"] ?? "-"}\n`,
    );
  }
  response.writeHead(200, { "content-type": "text/html" });
  response.end(page);
}).listen(Number(process.env.PORT), process.env.HOSTNAME ?? "127.0.0.1");
