'use strict';

// Called once per request with the body as a string, and context.raw, the
// body as a Buffer. Return a string, a Buffer or a JSON value.
module.exports = async (req, context) => context.raw;
