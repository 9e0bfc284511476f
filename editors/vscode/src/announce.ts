/**
 * "Announce" (issue 18, signals): after text is inserted, say so where assistive technology can
 * read it. VS Code offers extensions no speech API; what it offers is a status bar item with
 * `accessibilityInformation` (label and role), which a screen reader reads like any other. The
 * item shows the inserted text for a few seconds. Pure: the words and how long they show.
 */

/** How long the announcement stays in the status bar. */
export const ANNOUNCE_MS = 6000;

/** The most characters of the inserted text the status bar item shows (the label has it all). */
export const ANNOUNCE_SHOWN_CHARS = 48;

export interface Announcement {
  /** The status bar text. */
  text: string;
  /** The accessible label a screen reader reads. */
  label: string;
  tooltip: string;
}

/**
 * What to say for `inserted` (the text as it went in) put into `where` (a document name, “the
 * terminal”); undefined when nothing was inserted (only spaces or nothing).
 */
export function announcement(inserted: string, where?: string): Announcement | undefined {
  const oneLine = inserted.replace(/\s+/g, ' ').trim();
  if (!oneLine) {
    return undefined;
  }
  const shown = oneLine.length > ANNOUNCE_SHOWN_CHARS ? `${oneLine.slice(0, ANNOUNCE_SHOWN_CHARS - 1)}…` : oneLine;
  const place = where ? ` into ${where}` : '';
  return {
    text: `$(check) “${shown}”`,
    label: `Swictation inserted${place}: ${oneLine}`,
    tooltip: `Swictation inserted${place}: “${oneLine}”`,
  };
}
