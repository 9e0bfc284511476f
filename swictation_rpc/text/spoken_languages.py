"""Command phrases per spoken language, as data: what to say for each symbol, near-misses, prompts.

English (``en``) is the complete table (:data:`~swictation_rpc.text.commands.DEFAULT_COMMANDS`);
each other language maps its own phrases to the same symbols by name (:data:`SYMBOL_PHRASES`).
The English casing commands ("camel case", "snake case", ...) and the programming-language
extras ("arrow", "walrus") stay in every table, so they keep working inside German or Spanish
prose. ``say``/``literal`` and the explicit command prefix have a form per language too.

Near-misses (:data:`NEAR_MISSES`) are what a small recognizer writes for a command it did not
quite hear ("open parent" for "open paren"). They are commands only where that is unambiguous:
multi-word ones in code, single-word ones when they are the whole utterance in code.
"""

from __future__ import annotations

#: language -> spoken phrase -> the English phrase whose symbol it writes.
SYMBOL_PHRASES: dict[str, dict[str, str]] = {
    "de": {
        "komma": "comma",
        "punkt": "period",
        "fragezeichen": "question mark",
        "ausrufezeichen": "exclamation mark",
        "doppelpunkt": "colon",
        "semikolon": "semicolon",
        "strichpunkt": "semicolon",
        "neue zeile": "new line",
        "nächste zeile": "new line",
        "neuer absatz": "new paragraph",
        "klammer auf": "open paren",
        "klammer zu": "close paren",
        "runde klammer auf": "open paren",
        "runde klammer zu": "close paren",
        "eckige klammer auf": "open bracket",
        "eckige klammer zu": "close bracket",
        "geschweifte klammer auf": "open brace",
        "geschweifte klammer zu": "close brace",
        "anführungszeichen": "quote",
        "anführungszeichen auf": "open quote",
        "anführungszeichen zu": "close quote",
        "bindestrich": "dash",
        "unterstrich": "underscore",
        "schrägstrich": "slash",
        "gleich": "equals",
        "ist gleich": "equals",
        "gleichheitszeichen": "equals",
        "plus": "plus",
        "minus": "minus",
        "stern": "asterisk",
        "sternchen": "asterisk",
        "größer als": "greater than",
        "kleiner als": "less than",
    },
    "es": {
        "coma": "comma",
        "punto": "period",
        "punto y coma": "semicolon",
        "dos puntos": "colon",
        "signo de interrogación": "question mark",
        "signo de exclamación": "exclamation mark",
        "nueva línea": "new line",
        "nuevo párrafo": "new paragraph",
        "abrir paréntesis": "open paren",
        "cerrar paréntesis": "close paren",
        "abrir corchete": "open bracket",
        "cerrar corchete": "close bracket",
        "abrir llave": "open brace",
        "cerrar llave": "close brace",
        "comillas": "quote",
        "guion": "dash",
        "guion bajo": "underscore",
        "barra": "slash",
        "igual": "equals",
        "más": "plus",
        "menos": "minus",
        "asterisco": "asterisk",
        "mayor que": "greater than",
        "menor que": "less than",
    },
}

#: language -> the words that write the next command phrase as words ("say comma" -> "comma").
LITERAL_WORDS: dict[str, tuple[str, ...]] = {"en": ("say", "literal"), "de": ("wörtlich",), "es": ("literal",)}
#: language -> the word that makes the next command phrase a command wherever it is said.
COMMAND_PREFIX: dict[str, str] = {"en": "command", "de": "befehl", "es": "comando"}

#: language -> misheard phrase -> the command phrase it stands for (see the module doc).
NEAR_MISSES: dict[str, dict[str, str]] = {
    "en": {
        "open parent": "open paren",
        "close parent": "close paren",
        "open parens": "open paren",
        "close parens": "close paren",
        "open brackets": "open bracket",
        "close brackets": "close bracket",
        "haskell case": "pascal case",
        "cabal case": "kebab case",
        "camel cases": "camel case",
        "snake cases": "snake case",
        "comment": "comma",
        "cohen": "colon",
        "colin": "colon",
        "semi colon": "semicolon",
        "under score": "underscore",
    },
}

#: language -> what Whisper is prompted with in code: the command words in the style they are said.
CODE_PROMPTS: dict[str, str] = {
    "en": "print open paren x close paren comma y colon dot plus minus equals "
    "snake case camel case pascal case kebab case new line",
    "de": "drucke klammer auf x klammer zu komma y doppelpunkt punkt plus minus gleich neue zeile",
    "es": "imprimir abrir paréntesis x cerrar paréntesis coma y dos puntos punto más menos igual nueva línea",
}
#: language -> the prompt in prose (comments, strings, documents): spoken punctuation in sentences.
#: English names "scratch that" too: without it the bundled tiny.en wrote a spoken "scratch that
#: hello world" as "Let's scratch that hello world." (a lead-in of its own before the command, so
#: the command no longer came first and the previous utterance stayed). Mid-prompt, not last, so a
#: quiet clip is not heard as the command.
PROSE_PROMPTS: dict[str, str] = {
    "en": "Hello world, comma, period, scratch that, colon, question mark, new line.",
    "de": "Hallo Welt, Komma, Punkt, Doppelpunkt, Fragezeichen, neue Zeile.",
    "es": "Hola mundo, coma, punto, dos puntos, nueva línea.",
}

LANGUAGES: tuple[str, ...] = ("en", *SYMBOL_PHRASES)


def base_language(code: str | None) -> str:
    """``de-AT`` -> ``de``; ``auto``/unknown/empty -> ``en``."""
    base = (code or "").lower().replace("_", "-").split("-")[0]
    return base if base in LANGUAGES else "en"
