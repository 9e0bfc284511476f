-- A spoken "scratch that" that removes nothing, against the real server with a tone model: the
-- user is told why in one message, with one "swictation:" prefix (the server's own message begins
-- with "Swictation:"), and not "no speech recognised". Needs SWICTATION_TEST_TONES_*
-- (tests/editors/test_neovim.py sets them).
local t = require("swictation_test")
local it, eq = t.it, t.eq

local swictation = require("swictation")
local log = require("swictation.log")

local PYTHON = vim.env.SWICTATION_TEST_PYTHON
local REPO = vim.env.SWICTATION_TEST_REPO
local FAST = vim.env.SWICTATION_TEST_TONES_FAST
local HELLO = vim.env.SWICTATION_TEST_TONES_HELLO
local SCRATCH = vim.env.SWICTATION_TEST_TONES_SCRATCH

local configured = false
local function need_server()
  if not (PYTHON and FAST and HELLO and SCRATCH) then
    t.skip("SWICTATION_TEST_PYTHON/TONES_* not set: run through tests/editors/test_neovim.py")
  end
  if not configured then
    configured = true
    swictation.setup({
      cmd = { PYTHON, "-m", "swictation_rpc", "serve", "--stdio" },
      cmd_env = REPO and { PYTHONPATH = REPO } or {},
      settings = { models = { fast = FAST, accurate = FAST }, defaultMode = "fast" },
    })
  end
end

local dir = vim.fn.tempname()
vim.fn.mkdir(dir, "p")

local function file(name, lines)
  local path = dir .. "/" .. name
  vim.fn.writefile(lines, path)
  vim.cmd("edit! " .. vim.fn.fnameescape(path))
  return vim.api.nvim_get_current_buf()
end

--- Transcribe `clip` at the cursor; what the user was told (INFO and up) until SwictationDone.
local function said(clip)
  local seen, stop = t.capture_notify(vim.log.levels.INFO)
  local ok, done = pcall(t.wait_done, 60000, function()
    vim.cmd("SwictationTranscribe " .. vim.fn.fnameescape(clip))
  end)
  vim.wait(200) -- anything scheduled would show up now
  stop()
  assert(ok, done)
  return done, seen
end

it("a server message that names Swictation is shown with one prefix", function()
  local seen, stop = t.capture_notify(vim.log.levels.INFO)
  log.from_server({ type = 3, message = "Swictation: The utterance was edited in a.txt." }, true)
  log.from_server({ type = 2, message = "the model is loading" }, true)
  stop()
  eq({ "swictation: The utterance was edited in a.txt.", "swictation: server: the model is loading" }, {
    seen[1] and seen[1].msg,
    seen[2] and seen[2].msg,
  })
end)

it('"scratch that" with nothing to remove: one sentence, not "no speech recognised"', function()
  need_server()
  local buf = file("nothing.py", { "x = 1", "" })
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  local done, seen = said(SCRATCH)
  t.truthy(done.ok, tostring(done.error))
  eq({ "x = 1", "" }, vim.api.nvim_buf_get_lines(buf, 0, -1, false))
  eq(1, #seen, vim.inspect(seen))
  eq("swictation: 'scratch that' found no earlier utterance in nothing.py to remove.", seen[1].msg)
  -- After `u` took the dictation out, there is again nothing to remove: the same one sentence.
  said(HELLO)
  eq("print hello world", vim.api.nvim_buf_get_lines(buf, 1, 2, false)[1])
  vim.cmd("silent normal! u")
  eq({ "x = 1", "" }, vim.api.nvim_buf_get_lines(buf, 0, -1, false))
  vim.wait(300) -- the server gets the buffer's didChange
  done, seen = said(SCRATCH)
  t.truthy(done.ok, tostring(done.error))
  eq(1, #seen, vim.inspect(seen))
  eq("swictation: 'scratch that' found no earlier utterance in nothing.py to remove.", seen[1].msg)
end)
