/**
 * The text context sent with an utterance (protocol `TextContext`): a bounded window around the
 * cursor, so the server can choose spacing and casing, and identifiers from the document, so it
 * can bias recognition toward them and spell them as written. Pure.
 */
import type { TextContext } from './protocol';

export interface ContextLimits {
  /** Characters before and after the cursor. */
  maxChars: number;
  /** Identifiers from the document; 0 sends none. */
  maxIdentifiers: number;
}

/** Documents larger than this are scanned for identifiers only around the cursor. */
export const IDENTIFIER_SCAN_CHARS = 200_000;

const IDENTIFIER = /[A-Za-z_$][A-Za-z0-9_$]*/g;

/**
 * Documents of prose: their plain words are just English, which the recognizer knows; only
 * code-like identifiers (`fooBar`, `max_len`) are worth biasing toward there.
 */
export const PROSE_LANGUAGES: ReadonlySet<string> = new Set(['plaintext', 'markdown', 'latex', 'restructuredtext', 'asciidoc', 'git-commit', 'scminput']);

/** Whether an identifier looks like code rather than a plain word (`getUserById`, `max_len`, `x2`). */
export function isCompound(identifier: string): boolean {
  return (
    /[a-z][A-Z]/.test(identifier) || // camelCase, PascalCase
    /[A-Z]{2}[a-z]/.test(identifier) || // HTTPServer
    /[A-Za-z0-9]_[A-Za-z0-9]/.test(identifier) || // snake_case
    /[A-Za-z][0-9]|[0-9][A-Za-z]/.test(identifier) // utf8, x2y
  );
}

/**
 * Identifiers in `text`, most useful first: compound ones (which speech recognizers cannot spell
 * unaided) before plain words, each group by frequency, ties by first appearance. Words shorter
 * than three characters are skipped.
 */
export function identifiersIn(text: string, max: number, compoundOnly = false): string[] {
  if (max <= 0) {
    return [];
  }
  const counts = new Map<string, { count: number; first: number }>();
  let index = 0;
  for (const match of text.matchAll(IDENTIFIER)) {
    const word = match[0];
    if (word.length < 3 || (compoundOnly && !isCompound(word))) {
      continue;
    }
    const seen = counts.get(word);
    if (seen) {
      seen.count++;
    } else {
      counts.set(word, { count: 1, first: index++ });
    }
  }
  return [...counts.entries()]
    .sort(([a, sa], [b, sb]) => {
      const ca = isCompound(a) ? 0 : 1;
      const cb = isCompound(b) ? 0 : 1;
      return ca - cb || sb.count - sa.count || sa.first - sb.first;
    })
    .slice(0, max)
    .map(([word]) => word);
}

/** Start of the character at `offset` moved off a UTF-16 surrogate pair's second half. */
function safeOffset(text: string, offset: number): number {
  const code = text.charCodeAt(offset);
  return code >= 0xdc00 && code <= 0xdfff && offset > 0 ? offset - 1 : offset;
}

/**
 * The context for an utterance at `offset` in `text`. With a selection, `endOffset` is where it
 * ends: the text after the cursor is what follows the selection (the selection is replaced).
 */
export function buildContext(
  text: string,
  offset: number,
  languageId: string | undefined,
  limits: ContextLimits,
  endOffset: number = offset,
): TextContext {
  const maxChars = Math.max(0, limits.maxChars);
  const beforeStart = safeOffset(text, Math.max(0, offset - maxChars));
  const afterEnd = safeOffset(text, Math.min(text.length, endOffset + maxChars));
  let scanned = text;
  if (text.length > IDENTIFIER_SCAN_CHARS) {
    const from = Math.max(0, offset - IDENTIFIER_SCAN_CHARS / 2);
    scanned = text.slice(from, from + IDENTIFIER_SCAN_CHARS);
  }
  return {
    before: text.slice(beforeStart, offset),
    after: text.slice(endOffset, afterEnd),
    languageId: languageId ?? null,
    identifiers: identifiersIn(scanned, limits.maxIdentifiers, languageId !== undefined && PROSE_LANGUAGES.has(languageId)),
  };
}
