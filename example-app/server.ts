// The example app (placeholder until the binding lands): `npm start` serves it on PORT (3000).
import express from "express";

const app = express();
app.get("/", (_req, res) => {
  res.type("text/plain").send("express-sockets example app\n");
});
const port = Number(process.env.PORT ?? 3000);
app.listen(port, () => console.log(`example app on http://localhost:${port}/`));
