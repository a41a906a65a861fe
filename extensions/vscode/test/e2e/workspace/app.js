// The end-to-end test's app: prints the target's DEMO_GREETING, a file only the target has and
// the answer of a service only the target reaches (both given on the command line), then stays
// up until the debugger stops it. With a third argument it also serves HTTP on that port of
// every address (0.0.0.0), as a service would.
const fs = require('fs');
const http = require('http');
const [file, url, listenPort] = process.argv.slice(2);
if (listenPort) {
  http
    .createServer((req, res) => res.end('app: hello\n'))
    .listen(Number(listenPort), '0.0.0.0', () => console.log(`listening=0.0.0.0:${listenPort}`));
}
const greeting = process.env.DEMO_GREETING;
let content;
try {
  content = fs.readFileSync(file, 'utf8').trim().split('\n')[0];
} catch (e) {
  content = `error: ${e.code}`;
}
http
  .get(url, (res) => {
    let body = '';
    res.on('data', (chunk) => (body += chunk));
    res.on('end', () => {
      const answer = body.trim();
      console.log(`env=${greeting}`); // BREAKPOINT
      console.log(`file=${content}`);
      console.log(`http=${answer}`);
    });
  })
  .on('error', (e) => console.log(`http=error: ${e.message}`));
setInterval(() => {}, 1000);
