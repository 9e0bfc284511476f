-- Against the real server (python -m swictation_rpc serve --stdio) and real synthesised speech.
-- Needs SWICTATION_TEST_PYTHON, SWICTATION_TEST_WAV (speech of SWICTATION_TEST_TEXT); the pytest
-- wrapper (tests/editors/test_neovim.py) sets them, with a throwaway SWICTATION_DATA_DIR.
local t = require("swictation_test")
local it, eq, contains = t.it, t.eq, t.contains

local swictation = require("swictation")
local client = require("swictation.client")
local context = require("swictation.context")
local dictation = require("swictation.dictation")
local marks = require("swictation.marks")

local WAV = vim.env.SWICTATION_TEST_WAV
local TEXT = vim.env.SWICTATION_TEST_TEXT
--- The recognizer may miss a word of synthesised speech; more than this is a failure.
local MAX_WER = 0.35

local need_server = t.need_speech_server

local function setup(extra)
  swictation.setup(t.server_options(extra))
end

local ready_client = t.ready_client

local function status_sync()
  local c = ready_client()
  local result, err = client.request_sync(c, "swictation/status", vim.empty_dict(), 10000)
  assert(result, "swictation/status failed: " .. vim.inspect(err))
  return result
end

--- The text between `prefix` and `suffix` of `line`, asserting both are there.
local function between(line, prefix, suffix)
  assert(vim.startswith(line, prefix), ("%q does not start with %q"):format(line, prefix))
  assert(vim.endswith(line, suffix), ("%q does not end with %q"):format(line, suffix))
  return line:sub(#prefix + 1, #line - #suffix)
end

local function assert_transcript(text)
  local wer = t.wer(t.words(TEXT), t.words(text))
  assert(wer <= MAX_WER, ("inserted %q for %q: WER %.2f > %.2f"):format(text, TEXT, wer, MAX_WER))
end

local function transcribe_done(cmd)
  local done = t.wait_done(60000, function()
    vim.cmd(cmd or ("SwictationTranscribe " .. vim.fn.fnameescape(WAV)))
  end)
  assert(done.ok, "transcription failed: " .. tostring(done.error))
  return done
end

local function methods()
  local c = ready_client()
  return vim.tbl_get(c.server_capabilities or {}, "experimental", "swictation", "methods") or {}
end

it("the server starts on first use with the settings as initializationOptions", function()
  need_server()
  setup({ settings = { history = { maxItems = 77 }, logLevel = "debug" } })
  eq("", swictation.status(), "nothing runs before first use")
  local result = status_sync()
  eq(77, result.config.history.maxItems, "init_options reached the server")
  contains(swictation.status(), "swictation: ")
  t.truthy(vim.tbl_contains(methods(), "swictation/transcribe"), "the server advertises its methods")
end)

it(":SwictationMode pushes the change with workspace/didChangeConfiguration", function()
  need_server()
  vim.cmd("SwictationMode fast")
  t.wait(5000, function()
    return status_sync().config.defaultMode == "fast"
  end, "defaultMode did not reach the server")
  vim.cmd("SwictationMode auto")
  t.wait(5000, function()
    return status_sync().config.defaultMode == "auto"
  end, "defaultMode did not reach the server")
end)

it(":SwictationTranscribe puts the words at the cursor, mid-line, and moves the cursor after them", function()
  need_server()
  local bufnr = t.buffer({ "alpha beta", "first second third", "omega" })
  vim.api.nvim_win_set_cursor(0, { 2, 6 }) -- on the "s" of "second"
  local done = transcribe_done()
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  eq("alpha beta", lines[1])
  eq("omega", lines[3])
  local inserted = between(lines[2], "first ", "second third")
  assert_transcript(inserted)
  eq(vim.trim(done.text), vim.trim(inserted), "the buffer holds the server's text")
  local cursor = vim.api.nvim_win_get_cursor(0)
  eq(2, cursor[1])
  eq(#"first " + #inserted - 1, cursor[2], "cursor on the last inserted character")
  local virt = vim.tbl_filter(function(m)
    return m[4].virt_text ~= nil
  end, vim.api.nvim_buf_get_extmarks(bufnr, marks.ns, 0, -1, { details = true }))
  eq({}, virt, "no virtual text left")
end)

it("one `u` undoes exactly the insertion", function()
  need_server()
  local bufnr = t.buffer({ "keep this", "first second third" })
  vim.api.nvim_win_set_cursor(0, { 2, 6 })
  transcribe_done()
  t.truthy(#vim.api.nvim_buf_get_lines(bufnr, 1, 2, false)[1] > #"first second third", "text was inserted")
  vim.cmd("normal! u")
  eq({ "keep this", "first second third" }, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
  vim.cmd("redo")
  assert_transcript(between(vim.api.nvim_buf_get_lines(bufnr, 1, 2, false)[1], "first ", "second third"))
end)

it("the text goes where the utterance began, even after edits above and before it", function()
  need_server()
  ready_client()
  local bufnr = t.buffer({ "line one", "target here" })
  vim.api.nvim_win_set_cursor(0, { 2, 7 }) -- on the "h" of "here"
  local done = t.wait_done(60000, function()
    swictation.transcribe(WAV)
    -- The request is on its way; the user keeps editing.
    vim.api.nvim_buf_set_lines(bufnr, 0, 0, false, { "a new first line" })
    vim.api.nvim_buf_set_text(bufnr, 2, 0, 2, 0, { "XX" })
    vim.api.nvim_win_set_cursor(0, { 1, 0 })
  end)
  assert(done.ok, tostring(done.error))
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  eq("a new first line", lines[1])
  eq("line one", lines[2])
  assert_transcript(between(lines[3], "XXtarget ", "here"))
  eq({ 1, 0 }, vim.api.nvim_win_get_cursor(0), "a cursor the user moved stays where it is")
end)

it("two dictations in a row from Normal mode read in order (the cursor left on the last character)", function()
  need_server()
  if not client.get() then
    setup()
  end
  ready_client()
  local bufnr = t.buffer({ "# notes", "" })
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  local first = transcribe_done()
  local line = vim.api.nvim_buf_get_lines(bufnr, 1, 2, false)[1]
  eq(first.text, line)
  eq({ 2, #line - 1 }, vim.api.nvim_win_get_cursor(0), "on the last inserted character, as after i…<Esc>")
  local second = transcribe_done()
  eq(first.text .. second.text, vim.api.nvim_buf_get_lines(bufnr, 1, 2, false)[1], "the second follows the first")
  assert_transcript(second.text)
  local third = transcribe_done()
  line = vim.api.nvim_buf_get_lines(bufnr, 1, 2, false)[1]
  eq(first.text .. second.text .. third.text, line, "and a third follows the second")
  eq({ 2, #line - 1 }, vim.api.nvim_win_get_cursor(0))
  -- Anywhere else the Normal-mode cursor keeps `i`: the text goes before the character under it.
  vim.api.nvim_win_set_cursor(0, { 1, 2 })
  local fourth = transcribe_done()
  eq("# " .. fourth.text .. "notes", vim.api.nvim_buf_get_lines(bufnr, 0, 1, false)[1])
end)

it("in Insert mode the text goes at the cursor, typing continues after it, undo is separate", function()
  need_server()
  ready_client()
  local bufnr = t.buffer({ "abc def" })
  vim.api.nvim_win_set_cursor(0, { 1, 3 })
  local seen
  local timer = assert(vim.uv.new_timer())
  local waited = 0
  timer:start(
    50,
    50,
    vim.schedule_wrap(function()
      waited = waited + 50
      if seen then
        return
      end
      if vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)[1] == "abc def" and waited < 30000 then
        return
      end
      seen = {
        mode = vim.api.nvim_get_mode().mode,
        line = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)[1],
        cursor = vim.api.nvim_win_get_cursor(0),
      }
      timer:stop()
      vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes("XY<Esc>", true, false, true), "n", false)
    end)
  )
  local keys = ("i<Cmd>lua require('swictation').transcribe(%q)<CR>"):format(WAV)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(keys, true, false, true), "x!", false)
  timer:close()
  t.truthy(seen, "the text never arrived")
  eq("i", seen.mode, "still in Insert mode when the text arrived")
  local inserted = between(seen.line, "abc", " def")
  assert_transcript(inserted)
  eq(3 + #inserted, seen.cursor[2], "cursor after the inserted text")
  eq("abc" .. inserted .. "XY def", vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)[1])
  vim.cmd("normal! u")
  eq("abc" .. inserted .. " def", vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)[1], "first u: the typing")
  vim.cmd("normal! u")
  eq("abc def", vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)[1], "second u: the dictation")
end)

it("a visual selection is replaced (through the <Plug> mapping)", function()
  need_server()
  ready_client()
  local bufnr = t.buffer({ "keep REPLACE ME keep", "next" })
  local orig_input = vim.ui.input
  vim.ui.input = function(_, on_confirm)
    on_confirm(WAV)
  end
  local ok, done = pcall(t.wait_done, 60000, function()
    vim.api.nvim_win_set_cursor(0, { 1, 0 })
    local keys = vim.api.nvim_replace_termcodes("wvee<Plug>(SwictationTranscribe)", true, false, true)
    vim.api.nvim_feedkeys(keys, "mx", false)
  end)
  vim.ui.input = orig_input
  assert(ok, done)
  assert(done.ok, tostring(done.error))
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  eq("next", lines[2])
  local inserted = between(lines[1], "keep ", " keep")
  t.truthy(not inserted:find("REPLACE"), "the selection is gone: " .. lines[1])
  assert_transcript(inserted)
  vim.cmd("normal! u")
  eq({ "keep REPLACE ME keep", "next" }, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "one undo restores it")
end)

it("a :'<,'> range from Visual line mode replaces whole lines", function()
  need_server()
  ready_client()
  local bufnr = t.buffer({ "top", "old one", "old two", "bottom" })
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  vim.cmd("normal! Vj")
  vim.cmd("normal! \27")
  transcribe_done("'<,'>SwictationTranscribe " .. vim.fn.fnameescape(WAV))
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  eq("top", lines[1])
  eq("bottom", lines[#lines])
  eq(3, #lines, "two lines became one")
  assert_transcript(lines[2])
end)

it("interim text from swictation/partial is virtual text, replaced by the final text", function()
  need_server()
  local c = ready_client()
  local bufnr = t.buffer({ "say: end" })
  vim.api.nvim_win_set_cursor(0, { 1, 5 })
  -- The state after a successful startDictation (a real one needs a microphone: mic_spec.lua).
  local target = marks.capture()
  marks.prepare(target, c.offset_encoding)
  dictation.session = { phase = "listening", id = "test-session", target = target }
  local function virt()
    local out = {}
    for _, m in ipairs(vim.api.nvim_buf_get_extmarks(bufnr, marks.ns, 0, -1, { details = true })) do
      if m[4].virt_text then
        out[#out + 1] = { row = m[2], col = m[3], text = m[4].virt_text[1][1], pos = m[4].virt_text_pos }
      end
    end
    return out
  end
  -- Through the client's notification dispatch, as the RPC layer calls it.
  c:_notification("swictation/stateChanged", { state = "listening", sessionId = "test-session" })
  c:_notification("swictation/partial", { sessionId = "test-session", text = "hello wor" })
  eq({ { row = 0, col = 5, text = "hello wor", pos = "inline" } }, virt())
  c:_notification("swictation/partial", { sessionId = "test-session", text = "hello world" })
  eq({ { row = 0, col = 5, text = "hello world", pos = "inline" } }, virt(), "replaced, not added")
  c:_notification("swictation/partial", { sessionId = "another-session", text = "not mine" })
  eq("hello world", virt()[1].text, "another session's partial is ignored")
  eq({ "say: end" }, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "virtual text only")
  t.wait(1000, function()
    return swictation.status() == "swictation: listening"
  end, "statusline shows listening")
  -- The user types before the spot meanwhile: the interim text moves with it.
  vim.api.nvim_buf_set_text(bufnr, 0, 0, 0, 0, { ">> " })
  c:_notification("swictation/partial", { sessionId = "test-session", text = "hello world again" })
  eq({ { row = 0, col = 8, text = "hello world again", pos = "inline" } }, virt())
  -- The final text (what stopDictation returns) replaces the interim text.
  marks.apply(target, {
    text = "hello world again ",
    edits = { { range = { start = target.position, ["end"] = target.position }, newText = "hello world again " } },
  })
  eq({}, virt())
  eq({ ">> say: hello world again end" }, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
  dictation.session = nil
  dictation.on_server_exit() -- forget the test session
  c:_notification("swictation/stateChanged", { state = "idle" })
end)

it("stopping a session the server does not know clears the interim text and says why once", function()
  need_server()
  local c = ready_client()
  local bufnr = t.buffer({ "x" })
  local target = marks.capture()
  marks.prepare(target, c.offset_encoding)
  dictation.session = { phase = "listening", id = "no-such-session", target = target }
  c:_notification("swictation/partial", { sessionId = "no-such-session", text = "lost words" })
  local seen, stop = t.capture_notify(vim.log.levels.INFO)
  local done = t.wait_done(10000, function()
    vim.cmd("SwictationStop")
  end)
  stop()
  eq(false, done.ok)
  eq(1, #seen, vim.inspect(seen))
  contains(seen[1].msg, "Stop dictation: No dictation session no-such-session is active")
  eq({}, vim.api.nvim_buf_get_extmarks(bufnr, marks.ns, 0, -1, {}))
  eq(false, swictation.is_listening())
end)

it("swictation/refined replaces the utterance at the version the server checked, never the user's edit", function()
  need_server()
  local c = ready_client()
  local bufnr = t.buffer({ "one two" })
  vim.api.nvim_win_set_cursor(0, { 1, 4 })
  local done = transcribe_done()
  t.truthy(done.utterance_id, "the result names its utterance")
  local inserted = between(vim.api.nvim_buf_get_lines(bufnr, 0, 1, false)[1], "one ", "two")
  -- Text typed before it moves it; the server's range is for the version it checked.
  vim.api.nvim_buf_set_text(bufnr, 0, 0, 0, 0, { "zero " })
  local sync = require("swictation.sync")
  local range = { start = { line = 0, character = 9 }, ["end"] = { line = 0, character = 9 + #inserted } }
  c:_notification("swictation/refined", {
    utteranceId = done.utterance_id,
    uri = context.uri(bufnr),
    version = sync.version(c, bufnr),
    edit = { range = range, newText = "REFINED words " },
    text = "REFINED words ",
  })
  eq({ "zero one REFINED words two" }, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
  vim.cmd("normal! u")
  eq({ "zero one " .. inserted .. "two" }, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "one undo step")
  vim.cmd("redo")
  -- Edited inside since: a refinement computed before that edit is not applied.
  local version = sync.version(c, bufnr)
  vim.api.nvim_buf_set_text(bufnr, 0, 9, 0, 16, { "mine" })
  local before = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  local seen, stop = t.capture_notify(vim.log.levels.INFO)
  c:_notification("swictation/refined", {
    utteranceId = done.utterance_id,
    uri = context.uri(bufnr),
    version = version,
    edit = { range = { start = range.start, ["end"] = { line = 0, character = 23 } }, newText = "again " },
    text = "again ",
  })
  stop()
  eq(before, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "the user's edit wins")
  eq(1, #seen, vim.inspect(seen))
end)

it(":SwictationStart without a usable microphone gives the server's error and remedy once", function()
  need_server()
  setup({ settings = { audio = { inputDevice = "swictation-test-no-such-microphone" } } })
  ready_client()
  local bufnr = t.buffer({ "text" })
  local seen, stop = t.capture_notify(vim.log.levels.INFO)
  local done = t.wait_done(30000, function()
    vim.cmd("SwictationStart")
  end)
  stop()
  eq(false, done.ok)
  eq(1, #seen, vim.inspect(seen))
  eq(vim.log.levels.ERROR, seen[1].level)
  contains(seen[1].msg, "Start dictation: No audio input device matches 'swictation-test-no-such-microphone'")
  contains(seen[1].msg, "doctor", "the remedy is shown")
  eq(false, swictation.is_listening())
  eq({ "text" }, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
  eq({}, vim.api.nvim_buf_get_extmarks(bufnr, marks.ns, 0, -1, {}))
  setup({})
end)

it("history lists the utterance and :SwictationUndo removes it where it is now", function()
  need_server()
  local m = methods()
  if not vim.tbl_contains(m, "swictation/history") or not vim.tbl_contains(m, "swictation/undoUtterance") then
    t.skip("the server does not offer swictation/history and swictation/undoUtterance yet")
  end
  local bufnr = t.buffer({ "before after" })
  vim.api.nvim_win_set_cursor(0, { 1, 7 })
  local done = transcribe_done()
  local items
  swictation.history({
    limit = 5,
    on_items = function(list)
      items = list
    end,
  })
  t.wait(10000, function()
    return items ~= nil
  end, "history did not answer")
  t.truthy(#items >= 1, "history is empty")
  eq(done.text, items[1].text, "newest first")
  -- Edit around the utterance, then undo it: only its text goes.
  vim.api.nvim_buf_set_text(bufnr, 0, 0, 0, 0, { "NEW " })
  local undone = t.wait_done(10000, function()
    vim.cmd("SwictationUndo")
  end)
  assert(undone.ok, tostring(undone.error))
  eq({ "NEW before after" }, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
end)

it(":SwictationHistory picks an utterance and an action (yank, insert)", function()
  need_server()
  if not vim.tbl_contains(methods(), "swictation/history") then
    t.skip("the server does not offer swictation/history yet")
  end
  local bufnr = t.buffer({ "x" })
  local done = transcribe_done()
  local orig = vim.ui.select
  local prompts = {}
  local function pick(label)
    vim.ui.select = function(items, opts, on_choice)
      prompts[#prompts + 1] = opts.prompt
      if opts.kind == "swictation_history" then
        contains(opts.format_item(items[1]), items[1].text)
        on_choice(items[1])
      else
        for _, item in ipairs(items) do
          if opts.format_item(item):find(label, 1, true) then
            return on_choice(item)
          end
        end
        error("no action " .. label)
      end
    end
  end
  local ok, err = pcall(function()
    vim.fn.setreg('"', "")
    pick("Yank")
    vim.cmd("SwictationHistory")
    t.wait(10000, function()
      return vim.fn.getreg('"') ~= ""
    end, "nothing was yanked")
    eq(done.text, vim.fn.getreg('"'))
    pick("Insert")
    vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, { "" })
    local inserted = t.wait_done(10000, function()
      vim.cmd("SwictationHistory")
    end)
    assert(inserted.ok, tostring(inserted.error))
    -- Laid out again for the new cursor (swictation/insertUtterance), as a new utterance.
    eq(vim.trim(done.text), vim.trim(inserted.text))
    eq(inserted.text, vim.api.nvim_buf_get_lines(bufnr, 0, 1, false)[1])
    t.truthy(inserted.utterance_id ~= done.utterance_id, "the copy is an utterance of its own")
  end)
  vim.ui.select = orig
  assert(ok, err)
  eq("Swictation history", prompts[1])
end)

it(":checkhealth swictation with the server running", function()
  need_server()
  ready_client()
  vim.cmd("checkhealth swictation")
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  contains(text, "OK server found")
  contains(text, "doctor --json` ran")
  contains(text, "OK the server starts and answers initialize")
  contains(text, "OK server state: idle")
  contains(text, "OK Python 3.")
  contains(text, "swictation: models")
  contains(text, "swictation: audio input")
  contains(text, "swictation: GPU")
  t.truthy(not text:find("ERROR"), "no errors:\n" .. text)
  vim.cmd("bwipeout!")
end)

it(":SwictationRestart replaces the server", function()
  need_server()
  local old = ready_client()
  vim.cmd("SwictationRestart")
  local new = ready_client()
  t.truthy(new.id ~= old.id, "a new client")
  t.wait(10000, function()
    return old:is_stopped()
  end, "the old server stopped")
  local bufnr = t.buffer({ "" })
  transcribe_done()
  assert_transcript(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)[1])
end)

it("with the server not yet started, the target is where the cursor was when the command ran", function()
  need_server()
  client.stop(true)
  t.wait(5000, function()
    return client.get() == nil
  end, "stopped")
  local bufnr = t.buffer({ "keep OLD keep", "elsewhere" })
  local orig_input = vim.ui.input
  vim.ui.input = function(_, on_confirm)
    on_confirm(WAV)
  end
  local ok, done = pcall(t.wait_done, 60000, function()
    vim.api.nvim_win_set_cursor(0, { 1, 5 })
    vim.api.nvim_feedkeys(
      vim.api.nvim_replace_termcodes("ve<Plug>(SwictationTranscribe)", true, false, true),
      "mx",
      false
    )
    -- The server is still starting: move on.
    vim.api.nvim_win_set_cursor(0, { 2, 3 })
  end)
  vim.ui.input = orig_input
  assert(ok, done)
  assert(done.ok, tostring(done.error))
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  eq("elsewhere", lines[2])
  assert_transcript(between(lines[1], "keep ", " keep"))
end)
