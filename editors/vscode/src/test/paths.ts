/** Folders the tests read from, found relative to the compiled test file (out/test/…). */
import * as path from 'node:path';

/** editors/vscode */
export const extensionRoot = path.resolve(__dirname, '..', '..');
/** The repository root (schemas/, swictation_rpc/, .venv/). */
export const repoRoot = path.resolve(extensionRoot, '..', '..');
