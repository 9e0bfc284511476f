-- Issue 18 against the real server and real synthesised speech: per-phrase commit on the virtual
-- microphone (the first phrase is in the buffer while listening goes on; stop brings the tail;
-- undo removes only the last phrase; cancel keeps what was committed), a terminal buffer (the
-- text goes to the shell, "press enter" runs it) and a git commit message (prose).
-- tests/editors/test_neovim.py sets SWICTATION_TEST_PHRASE_ONE/_TWO (+ _WAV), _TERMINAL_WAV,
-- _COMMIT_WAV (+ _TEXT) and, when the virtual microphone answers, SWICTATION_TEST_MIC=1.
local t = require("swictation_test")
local it, eq, contains = t.it, t.eq, t.contains

local swictation = require("swictation")
local client = require("swictation.client")
local dictation = require("swictation.dictation")
local marks = require("swictation.marks")

local ONE, ONE_WAV = vim.env.SWICTATION_TEST_PHRASE_ONE, vim.env.SWICTATION_TEST_PHRASE_ONE_WAV
local TWO, TWO_WAV = vim.env.SWICTATION_TEST_PHRASE_TWO, vim.env.SWICTATION_TEST_PHRASE_TWO_WAV
local TERMINAL_WAV = vim.env.SWICTATION_TEST_TERMINAL_WAV
local COMMIT, COMMIT_WAV = vim.env.SWICTATION_TEST_COMMIT_TEXT, vim.env.SWICTATION_TEST_COMMIT_WAV
--- The recognizer may miss a word of synthesised speech; more than this is a failure.
local MAX_WER = 0.35
--- A pause this long closes a phrase: longer than the silence at the end of a clip (so stop
--- right after the second clip finds its phrase still open), short enough to wait for.
local PHRASE_SILENCE_MS = 1500

local function log_text()
  return table.concat(require("swictation.log").lines, "\n")
end

local function need(...)
  t.need_speech_server()
  for _, name in ipairs({ ... }) do
    if not vim.env[name] then
      t.skip(name .. " is not set: run through tests/editors/test_neovim.py")
    end
  end
end

local function need_mic()
  need("SWICTATION_TEST_PHRASE_ONE_WAV", "SWICTATION_TEST_PHRASE_TWO_WAV")
  if vim.env.SWICTATION_TEST_MIC ~= "1" then
    t.skip("no virtual microphone (SWICTATION_TEST_MIC=1 and scripts/virtual-mic)")
  end
  if vim.fn.executable("paplay") ~= 1 then
    t.skip("paplay is not installed (apt-get install pulseaudio-utils)")
  end
end

--- The checkout's server with `settings` (sounds off: a chime would reach the microphone).
local function setup(settings)
  if swictation.is_listening() then
    swictation.cancel() -- a failed test before this one
    vim.wait(3000, function()
      return not swictation.is_listening()
    end)
  end
  settings = vim.tbl_deep_extend("force", { signals = { sounds = false } }, settings or {})
  swictation.setup(t.server_options({ settings = settings, signals = { announce = vim.log.levels.INFO } }))
  return t.ready_client()
end

local function per_phrase()
  setup({
    dictation = { commit = "perPhrase" },
    vad = { autoStopSilenceMs = 0, minSilenceDurationMs = PHRASE_SILENCE_MS },
  })
end

local function assert_like(expected, text, what)
  local wer = t.wer(t.words(expected), t.words(text))
  assert(wer <= MAX_WER, ("%s: %q for %q: WER %.2f > %.2f"):format(what, text, expected, wer, MAX_WER))
end

--- The text between `prefix` and `suffix` of `line`, asserting both are there.
local function between(line, prefix, suffix)
  assert(vim.startswith(line, prefix), ("%q does not start with %q"):format(line, prefix))
  assert(vim.endswith(line, suffix), ("%q does not end with %q"):format(line, suffix))
  return line:sub(#prefix + 1, #line - #suffix)
end

local function virt_texts(bufnr)
  local out = {}
  for _, m in ipairs(vim.api.nvim_buf_get_extmarks(bufnr, marks.ns, 0, -1, { details = true })) do
    if m[4].virt_text then
      out[#out + 1] = { row = m[2], col = m[3], text = m[4].virt_text[1][1] }
    end
  end
  return out
end

--- `User SwictationPhrase` events, recorded until `stop()`.
local function record_phrases()
  local phrases = {}
  local id = vim.api.nvim_create_autocmd("User", {
    pattern = "SwictationPhrase",
    callback = function(ev)
      phrases[#phrases + 1] = ev.data
    end,
  })
  return phrases, function()
    pcall(vim.api.nvim_del_autocmd, id)
  end
end

local function start_listening()
  vim.cmd("SwictationStart")
  t.wait(30000, function()
    return dictation.session and dictation.session.phase == "listening"
  end, function()
    return "never listening; log:\n" .. log_text()
  end)
  eq("perPhrase", dictation.session.commit, "the server said it commits per phrase")
end

--- Play `wav` into the virtual microphone; `each()` runs while it plays. Returns paplay's result.
local function play(wav, each)
  local finished
  vim.system({ "paplay", "--device=vsink", wav }, {}, function(res)
    finished = res
  end)
  vim.wait(30000, function()
    if each then
      each()
    end
    return finished ~= nil
  end, 20)
  assert(finished and finished.code == 0, "paplay failed: " .. vim.inspect(finished))
  return finished
end

--- Speak phrase one and wait until it is committed (while listening goes on).
local function first_phrase(bufnr, phrases, prefix, suffix)
  play(ONE_WAV)
  t.wait(30000, function()
    return #phrases >= 1
  end, function()
    return "phrase one was not committed while listening; log:\n" .. log_text()
  end)
  eq(true, phrases[1].ok, "phrase one applied")
  eq("listening", dictation.session and dictation.session.phase, "still listening after phrase one")
  local line = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)[1]
  local inserted = between(line, prefix, suffix)
  assert_like(ONE, inserted, "phrase one in the buffer while listening")
  return inserted
end

it("per phrase: phrase one lands while listening; stop brings the tail; undo removes only the tail", function()
  need_mic()
  per_phrase()
  local phrases, stop_recording = record_phrases()
  local ok, err = pcall(function()
    local bufnr = t.buffer({ "start: end" })
    vim.api.nvim_win_set_cursor(0, { 1, 7 })
    start_listening()
    local one = first_phrase(bufnr, phrases, "start: ", "end")
    -- Phrase two, stopped right after the clip: its phrase is still open, so stop brings it.
    local interim = {}
    play(TWO_WAV, function()
      for _, v in ipairs(virt_texts(bufnr)) do
        interim[#interim + 1] = v
      end
    end)
    local announced, stop_notify = t.capture_notify(vim.log.levels.INFO)
    local done = t.wait_done(60000, function()
      vim.cmd("SwictationStop")
    end)
    stop_notify()
    assert(done.ok, tostring(done.error))
    eq(1, done.phrases, "one phrase committed while listening")
    eq(1, #phrases, "phrase two was not committed before stop")
    assert_like(TWO, done.text or "", "the tail stop brought")
    local line = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)[1]
    local both = between(line, "start: " .. one, "end")
    assert_like(TWO, both, "phrase two after phrase one")
    -- Ghost text while phrase two was spoken: only after phrase one, never phrase one again.
    for _, v in ipairs(interim) do
      eq(0, v.row)
      eq(#("start: " .. one), v.col, "interim text of the open phrase after the phrase already in")
      for _, w in ipairs(t.words(ONE)) do
        assert(not vim.tbl_contains(t.words(v.text), w) or vim.tbl_contains(t.words(TWO), w), v.text)
      end
    end
    eq({}, virt_texts(bufnr), "no interim text left")
    local said = vim.tbl_filter(function(n)
      return vim.startswith(n.msg, "Swictation: inserted")
    end, announced)
    eq(1, #said, "the tail is announced")
    contains(said[1].msg, vim.trim(both))
    -- Undo Last Utterance: only the tail goes.
    local undone = t.wait_done(30000, function()
      vim.cmd("SwictationUndo")
    end)
    assert(undone.ok, tostring(undone.error))
    eq({ "start: " .. one .. "end" }, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
  end)
  stop_recording()
  assert(ok, err)
end)

it("per phrase: cancel drops the open phrase only; the committed one stays, in the history too", function()
  need_mic()
  per_phrase()
  local phrases, stop_recording = record_phrases()
  local ok, err = pcall(function()
    local bufnr = t.buffer({ "" })
    start_listening()
    local one = first_phrase(bufnr, phrases, "", "")
    play(TWO_WAV)
    vim.cmd("SwictationCancel")
    eq(false, swictation.is_listening())
    -- Whatever was still on its way arrives within this (the cancel's answer comes after it).
    vim.wait(3000, function()
      return false
    end)
    eq(1, #phrases, "no phrase after the first")
    eq({ one }, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "phrase one stays, phrase two is dropped")
    eq({}, virt_texts(bufnr))
    local items
    swictation.history({
      on_items = function(list)
        items = list
      end,
    })
    t.wait(10000, function()
      return items ~= nil
    end, "history did not answer")
    local found = false
    local uri = require("swictation.context").uri(bufnr)
    for _, item in ipairs(items) do
      if item.id == phrases[1].utterance_id then
        found = not item.undone
      elseif item.uri == uri then
        error("the cancelled phrase is in the history: " .. vim.inspect(item.text))
      end
    end
    eq(true, found, "phrase one is in the history")
  end)
  stop_recording()
  assert(ok, err)
end)

--- The history's items, from the running server.
local function history_items()
  local items
  swictation.history({
    on_items = function(list)
      items = list
    end,
  })
  t.wait(30000, function()
    return items ~= nil
  end, "history did not answer")
  return items
end

it("per phrase: a server killed mid-session leaves phrase one in the buffer and in the history", function()
  need_mic()
  per_phrase()
  local phrases, stop_recording = record_phrases()
  local ok, err = pcall(function()
    local bufnr = t.buffer({ "" })
    start_listening()
    local one = first_phrase(bufnr, phrases, "", "")
    -- The server this Neovim started (its child), killed while it listens on.
    local pids = vim.fn.systemlist({ "pgrep", "-P", tostring(vim.fn.getpid()), "-f", "swictation" })
    eq(1, #pids, "one server process: " .. vim.inspect(pids))
    vim.fn.system({ "kill", "-KILL", pids[1] })
    t.wait(15000, function()
      return client.get() == nil
    end, "the plugin did not notice the server died")
    eq({ one }, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "phrase one stays in the buffer")
    -- A new server has it in the history, as it was committed.
    per_phrase()
    local found
    for _, item in ipairs(history_items()) do
      if item.id == phrases[1].utterance_id then
        found = item
      end
    end
    assert(found, "phrase one is not in the history after the crash")
    eq(vim.trim(one), vim.trim(found.text), "the history has the phrase's text")
    eq(false, found.undone)
  end)
  stop_recording()
  assert(ok, err)
end)

--- A terminal buffer running sh in the current window (prompt "$ ").
local function terminal_sh()
  vim.cmd("enew!")
  local bufnr = vim.api.nvim_get_current_buf()
  local cmd, opts = { "sh" }, { env = { PS1 = "$ ", ENV = "" } }
  local job
  if vim.fn.has("nvim-0.11") == 1 then
    opts.term = true
    job = vim.fn.jobstart(cmd, opts)
  else
    job = vim.fn.termopen(cmd, opts)
  end
  assert(job > 0, "could not start sh in a terminal")
  t.wait(10000, function()
    return table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "\n"):find("%$ ") ~= nil
  end, "no prompt from sh")
  return bufnr, job
end

it("terminal: the text goes to the shell; a spoken 'press enter' runs it; undo says it cannot", function()
  need("SWICTATION_TEST_TERMINAL_WAV")
  setup({})
  local bufnr, job = terminal_sh()
  local ok, err = pcall(function()
    local announced, stop_notify = t.capture_notify(vim.log.levels.INFO)
    local done = t.wait_done(60000, function()
      vim.cmd("SwictationTranscribe " .. vim.fn.fnameescape(TERMINAL_WAV))
    end)
    stop_notify()
    assert(done.ok and done.applied, "transcription failed: " .. tostring(done.error) .. "\n" .. log_text())
    -- sh ran `echo hello world` (the recognizer's capitals kept): its output is a line of its own
    -- after the command line.
    local function lower_lines()
      return vim.tbl_map(string.lower, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
    end
    t.wait(10000, function()
      return vim.tbl_contains(lower_lines(), "hello world")
    end, function()
      return "the shell did not run it: " .. vim.inspect(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
    end)
    assert(vim.tbl_contains(lower_lines(), "$ echo hello world"), vim.inspect(lower_lines()))
    eq("swictation: sent to the terminal “echo hello world⏎”", announced[#announced].msg:lower())
    -- The server was told it is a terminal and no document was synced for it.
    eq(false, require("swictation.sync").is_attached(client.get(), bufnr))
    local seen, stop2 = t.capture_notify(vim.log.levels.INFO)
    local undone = t.wait_done(10000, function()
      vim.cmd("SwictationUndo")
    end)
    stop2()
    eq(false, undone.ok)
    contains(seen[1] and seen[1].msg or "", "undo is not supported in a terminal")
  end)
  vim.fn.jobstop(job)
  assert(ok, err)
end)

it("git commit message: dictated as prose at the top, the comment lines kept", function()
  need("SWICTATION_TEST_COMMIT_WAV", "SWICTATION_TEST_COMMIT_TEXT")
  setup({})
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir .. "/.git", "p")
  local path = dir .. "/.git/COMMIT_EDITMSG"
  local comments =
    { "# Please enter the commit message for your changes. Lines starting", "# with '#' will be ignored." }
  vim.fn.writefile(vim.list_extend({ "" }, comments), path)
  vim.cmd("edit " .. vim.fn.fnameescape(path))
  local bufnr = vim.api.nvim_get_current_buf()
  eq("gitcommit", vim.bo[bufnr].filetype, "Neovim's filetype detection")
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  local done = t.wait_done(60000, function()
    vim.cmd("SwictationTranscribe " .. vim.fn.fnameescape(COMMIT_WAV))
  end)
  assert(done.ok and done.applied, "transcription failed: " .. tostring(done.error))
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  eq(comments, vim.list_slice(lines, 2), "the comment lines are untouched")
  local message = lines[1]
  assert_like(COMMIT, message, "the commit message")
  -- Prose: a sentence (capital first letter), words as spoken (no code casing such as fix_the_parser).
  assert(message:match("^%u"), ("not sentence case: %q"):format(message))
  assert(not message:find("[_%(%)=]"), ("code formatting in a commit message: %q"):format(message))
  vim.cmd("write")
  eq(message, vim.fn.readfile(path)[1])
  vim.cmd("bwipeout!")
end)
