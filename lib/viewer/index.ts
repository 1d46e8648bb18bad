// The log viewer: a page that follows files live (sockets.viewer() middleware, and the
// `express-sockets tail` command line). It may import channels/, core/, sse/ and tail/.

export { viewer } from "./viewer";
export type { ViewerOptions, ViewerFilesOptions, ViewerRootOptions } from "./viewer";
