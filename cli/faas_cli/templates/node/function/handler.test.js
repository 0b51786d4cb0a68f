'use strict';
const test = require('node:test');
const assert = require('node:assert');
const handler = require('./handler');

test('echoes the body', async () => {
  const raw = Buffer.from('hello');
  assert.deepStrictEqual(await handler('hello', { raw }), raw);
});
