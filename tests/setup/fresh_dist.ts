// Vitest global setup: the child-process tests import dist/ (the built
// package), so it must be the build of lib/ and bench/ as they are now, not
// of an earlier state. npm test builds first; this covers any other way of
// starting vitest (npx vitest, a watch session, scripts/gpu-verify.sh).
import { REPO_ROOT } from '../helpers/child.js';
import { ensureFreshDist, staleText } from '../helpers/dist.js';

export default function setup(): void {
  const rebuilt = ensureFreshDist(REPO_ROOT);
  if (rebuilt.length > 0) console.log(`dist/ was out of date; rebuilt it (tsc -p tsconfig.json):\n${staleText(rebuilt)}`);
}
