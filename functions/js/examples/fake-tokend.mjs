// A stand-in for tokend (and the APIs behind it) for the examples' offline tests; functions
// do not need it. fakeTokend(routes) serves routes["METHOD path"] (a function of the request
// and the server's base URL returning a JSON value, or undefined for 404) and answers every
// other path as a proxy-only key would: 403 forbidden on the token endpoint, else 404.
import http from "node:http";

export async function fakeTokend(routes) {
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, accept: req.headers.accept });
    res.setHeader("Content-Type", "application/json");
    const route = routes[`${req.method} ${req.url}`];
    const body = route ? route(req, base) : undefined;
    if (body !== undefined) {
      res.end(JSON.stringify(body));
      return;
    }
    res.statusCode = req.url.endsWith("/token") ? 403 : 404;
    res.end(JSON.stringify({ error: res.statusCode === 403 ? "forbidden" : "not_found", message: "not served by the fake tokend" }));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return { url: base, seen, close: () => new Promise((resolve) => server.close(resolve)) };
}
