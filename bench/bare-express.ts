/** The baseline: a bare express JSON endpoint doing nothing but parse and answer, as a separate process. */
import crypto from 'node:crypto';
import express from 'express';

const app = express();
app.use(express.json({ limit: '30mb' }));
app.post('/api/v1/email', (req, res) => {
  res.json({ MessageID: crypto.randomUUID(), got: typeof req.body === 'object' });
});
app.get('/healthz', (_req, res) => {
  res.json({ status: 'ok' });
});
app.listen(Number(process.env.PORT), '127.0.0.1');
