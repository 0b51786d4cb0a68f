// Fork-mode entry point: the body on stdin, the handler's result on stdout.
// req is the body as a string (latin1 keeps every byte: Buffer.from(req, 'latin1')).
const handler = require('./function/handler');

const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', async () => {
  const body = Buffer.concat(chunks);
  try {
    const res = await handler(body.toString('utf8'), { raw: body });
    if (res === undefined || res === null) return;
    if (Buffer.isBuffer(res)) process.stdout.write(res);
    else if (typeof res === 'string') process.stdout.write(res);
    else process.stdout.write(JSON.stringify(res));
  } catch (err) {
    console.error(err);
    process.exitCode = 1;
  }
});
