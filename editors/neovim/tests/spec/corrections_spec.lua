-- Issue 18: "correct that" against the real server with two tone models that hear the same tones
-- as different words (fast: "world", accurate: "planet"): :SwictationCorrect lists both texts in
-- vim.ui.select, the choice replaces the utterance through utterances.apply as one undo step, a
-- spoken "correct that" opens the same list and inserts nothing, and an utterance edited by hand
-- is never overwritten. Needs SWICTATION_TEST_TONES_* (tests/editors/test_neovim.py sets them).
local t = require("swictation_test")
local it, eq, contains = t.it, t.eq, t.contains

local swictation = require("swictation")
local client = require("swictation.client")

local PYTHON = vim.env.SWICTATION_TEST_PYTHON
local REPO = vim.env.SWICTATION_TEST_REPO
local FAST = vim.env.SWICTATION_TEST_TONES_FAST
local ACCURATE = vim.env.SWICTATION_TEST_TONES_ACCURATE
local HELLO = vim.env.SWICTATION_TEST_TONES_HELLO
local CORRECT = vim.env.SWICTATION_TEST_TONES_CORRECT

local configured = false
local function need_server()
  if not (PYTHON and FAST and ACCURATE and HELLO and CORRECT) then
    t.skip("SWICTATION_TEST_PYTHON/TONES_* not set: run through tests/editors/test_neovim.py")
  end
  if not configured then
    configured = true
    swictation.setup({
      cmd = { PYTHON, "-m", "swictation_rpc", "serve", "--stdio" },
      cmd_env = REPO and { PYTHONPATH = REPO } or {},
      settings = { models = { fast = FAST, accurate = ACCURATE }, defaultMode = "fast" },
    })
  end
end

--- Every SwictationDone, in order.
local events = {}
vim.api.nvim_create_autocmd("User", {
  pattern = "SwictationDone",
  callback = function(ev)
    events[#events + 1] = ev.data
  end,
})

--- The first SwictationDone of `action` after event number `from`.
local function wait_action(action, from)
  local found
  t.wait(60000, function()
    for i = from + 1, #events do
      if events[i].action == action then
        found = events[i]
        return true
      end
    end
    return false
  end, "no SwictationDone for " .. action .. "; log:\n" .. table.concat(require("swictation.log").lines, "\n"))
  return found
end

--- vim.ui.select stubbed: records what it offered and chooses the `choose`th row.
local offered
local function choosing(choose)
  offered = nil
  vim.ui.select = function(items, opts, on_choice)
    local labels = {}
    for i, item in ipairs(items) do
      labels[i] = opts.format_item(item)
    end
    offered = { items = items, labels = labels, prompt = opts.prompt }
    on_choice(items[choose], choose)
  end
end

local dir = vim.fn.tempname()
vim.fn.mkdir(dir, "p")

local function file(name, lines)
  local path = dir .. "/" .. name
  vim.fn.writefile(lines, path)
  vim.cmd("edit! " .. vim.fn.fnameescape(path))
  vim.cmd("let &g:undolevels = &g:undolevels")
  return vim.api.nvim_get_current_buf()
end

--- The buffer's lines, trailing blanks aside (the layout may leave a space after the utterance).
local function lines(bufnr)
  return vim.tbl_map(function(line)
    return (line:gsub("%s+$", ""))
  end, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
end

--- Transcribe a tone clip at the cursor; returns its SwictationDone.
local function say(clip)
  local from = #events
  vim.cmd("SwictationTranscribe " .. vim.fn.fnameescape(clip))
  local done = wait_action("transcribe", from)
  assert(done.ok, "transcription failed: " .. tostring(done.error))
  vim.wait(300) -- the server gets the buffer's didChange
  return done
end

it(":SwictationCorrect offers both modes' text and the choice replaces the utterance as one undo step", function()
  need_server()
  local buf = file("fix.py", { "# " })
  vim.api.nvim_win_set_cursor(0, { 1, 2 })
  local said = say(HELLO)
  eq({ "# Print hello world" }, lines(buf))
  choosing(2)
  local from = #events
  vim.cmd("SwictationCorrect")
  local done = wait_action("correct", from)
  assert(done.ok, tostring(done.error))
  eq(said.utterance_id, done.utterance_id)
  eq({
    "Print hello world  (now, fast, tones-fast)",
    "Print hello planet  (accurate mode, tones-accurate)",
  }, offered.labels)
  eq({ "# Print hello planet" }, lines(buf))
  vim.cmd("undo")
  eq({ "# Print hello world" }, lines(buf), "one undo step takes the correction back")
  assert(client.get(), "the server is still running")
end)

it('a spoken "correct that" inserts nothing and opens the list for the previous utterance', function()
  need_server()
  local buf = file("spoken.py", { "# " })
  vim.api.nvim_win_set_cursor(0, { 1, 2 })
  local said = say(HELLO)
  vim.api.nvim_win_set_cursor(0, { 1, #vim.api.nvim_buf_get_lines(buf, 0, 1, false)[1] })
  choosing(2)
  local from = #events
  vim.cmd("SwictationTranscribe " .. vim.fn.fnameescape(CORRECT))
  local done = wait_action("correct", from)
  assert(done.ok, tostring(done.error))
  eq(said.utterance_id, done.utterance_id)
  eq(2, #offered.items)
  eq({ "# Print hello planet" }, lines(buf), "the command itself wrote nothing")
end)

it("an utterance edited by hand is not overwritten: the chosen text is offered in the message", function()
  need_server()
  local buf = file("edited.py", { "# " })
  vim.api.nvim_win_set_cursor(0, { 1, 2 })
  say(HELLO)
  vim.api.nvim_buf_set_text(buf, 0, 8, 0, 8, { "big " })
  vim.wait(300)
  eq({ "# Print big hello world" }, lines(buf))
  choosing(2)
  local from = #events
  local seen, stop = t.capture_notify(vim.log.levels.WARN)
  vim.cmd("SwictationCorrect")
  local ok, done = pcall(wait_action, "correct", from)
  stop()
  assert(ok, done)
  eq(false, done.ok)
  contains(done.error, "Print hello planet")
  eq(1, #seen, vim.inspect(seen))
  eq({ "# Print big hello world" }, lines(buf), "the user's words stay")
end)
