// Files the package serves to pages over plain HTTP: the browser client bundle (sockets.client()).
// It may import core/ only; it reads the bundle that `npm run build` puts in dist/client/.

export { client, CLIENT_PATH } from "./client";
export type { ClientOptions, ClientMiddleware } from "./client";
