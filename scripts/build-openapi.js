#!/usr/bin/env node
// Writes dist/openapi.json from the compiled command table, schemas and route tables (run by `npm run build`).
const fs = require('node:fs');
const path = require('node:path');
const { composeOpenApi } = require('../dist/src/ops/docs');
const doc = composeOpenApi();
fs.writeFileSync(path.join(__dirname, '..', 'dist', 'openapi.json'), JSON.stringify(doc));
console.log(`dist/openapi.json: ${Object.keys(doc.paths).length} paths`);
