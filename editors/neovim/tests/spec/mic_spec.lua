-- Dictation from a real (virtual PulseAudio) microphone: speech played into it with paplay.
-- Needs SWICTATION_TEST_MIC=1 with the virtual microphone's environment (scripts/virtual-mic), set
-- by tests/editors/test_neovim.py when the virtual microphone answers; skipped otherwise.
local t = require("swictation_test")
local it, eq = t.it, t.eq

local swictation = require("swictation")
local client = require("swictation.client")
local dictation = require("swictation.dictation")
local marks = require("swictation.marks")

local PYTHON = vim.env.SWICTATION_TEST_PYTHON
local WAV = vim.env.SWICTATION_TEST_WAV
local TEXT = vim.env.SWICTATION_TEST_TEXT
local REPO = vim.env.SWICTATION_TEST_REPO
local MAX_WER = 0.35

local function need_mic()
  if vim.env.SWICTATION_TEST_MIC ~= "1" or not (PYTHON and WAV and TEXT) then
    t.skip(
      "no virtual microphone (SWICTATION_TEST_MIC=1 and scripts/virtual-mic): run through tests/editors/test_neovim.py"
    )
  end
  if vim.fn.executable("paplay") ~= 1 then
    t.skip("paplay is not installed (apt-get install pulseaudio-utils)")
  end
end

local function setup(settings)
  if swictation.is_listening() then
    swictation.cancel() -- a failed test before this one
    vim.wait(2000, function()
      return not swictation.is_listening()
    end)
  end
  swictation.setup({
    cmd = { PYTHON, "-m", "swictation_rpc", "serve", "--stdio" },
    cmd_env = REPO and { PYTHONPATH = REPO } or {},
    settings = settings or {},
  })
  client.with_client(function() end)
  t.wait(60000, function()
    local c = client.get()
    return c and c.initialized
  end, "the server did not initialize")
end

local function virt_texts(bufnr)
  local out = {}
  for _, m in ipairs(vim.api.nvim_buf_get_extmarks(bufnr, marks.ns, 0, -1, { details = true })) do
    if m[4].virt_text then
      out[#out + 1] = m[4].virt_text[1][1]
    end
  end
  return out
end

--- Start dictating, play the clip into the microphone, note the interim texts shown.
local function dictate_clip(bufnr)
  local started
  local id = vim.api.nvim_create_autocmd("User", {
    pattern = "SwictationStatus",
    callback = function(ev)
      if ev.data.state == "listening" then
        started = true
      end
    end,
  })
  vim.cmd("SwictationStart")
  t.wait(30000, function()
    return started and dictation.session and dictation.session.phase == "listening"
  end, function()
    return "never listening; log:\n" .. table.concat(require("swictation.log").lines, "\n")
  end)
  vim.api.nvim_del_autocmd(id)
  local interim = {}
  local finished
  vim.system({ "paplay", "--device=vsink", WAV }, {}, function(res)
    finished = res
  end)
  vim.wait(30000, function()
    for _, text in ipairs(virt_texts(bufnr)) do
      if interim[#interim] ~= text then
        interim[#interim + 1] = text
      end
    end
    return finished ~= nil
  end, 20)
  return interim, finished
end

local function check_line(line, prefix, suffix)
  assert(vim.startswith(line, prefix) and vim.endswith(line, suffix), ("unexpected line %q"):format(line))
  local inserted = line:sub(#prefix + 1, #line - #suffix)
  local wer = t.wer(t.words(TEXT), t.words(inserted))
  assert(wer <= MAX_WER, ("inserted %q for %q: WER %.2f"):format(inserted, TEXT, wer))
end

it("dictation: interim text as virtual text while listening, final text where it began", function()
  need_mic()
  setup({ vad = { autoStopSilenceMs = 0 } })
  local bufnr = t.buffer({ "start: end" })
  vim.api.nvim_win_set_cursor(0, { 1, 7 })
  local interim, played = dictate_clip(bufnr)
  assert(played and played.code == 0, "paplay failed: " .. vim.inspect(played))
  -- Let the tail of the speech reach the recognizer, then watch for late partials: at least
  -- 1.5 s, and until the first one came (a segment is decoded once the silence after it closes
  -- it, which takes longer on a loaded machine).
  local since = vim.uv.now()
  vim.wait(15000, function()
    for _, text in ipairs(virt_texts(bufnr)) do
      if interim[#interim] ~= text then
        interim[#interim + 1] = text
      end
    end
    return #interim > 0 and vim.uv.now() - since >= 1500
  end, 20)
  eq({ "start: end" }, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "nothing inserted while listening")
  t.truthy(#interim > 0, "no interim virtual text was shown while speaking")
  local last = interim[#interim]
  assert(t.wer(t.words(TEXT), t.words(last)) <= 0.6, ("interim text %q is far from %q"):format(last, TEXT))
  local done = t.wait_done(60000, function()
    vim.cmd("SwictationStop")
  end)
  assert(done.ok, tostring(done.error))
  check_line(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)[1], "start: ", "end")
  eq({}, virt_texts(bufnr), "the interim text is gone")
  vim.cmd("normal! u")
  eq({ "start: end" }, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
end)

it("auto-stop after silence inserts the text without :SwictationStop", function()
  need_mic()
  setup({ vad = { autoStopSilenceMs = 700 } })
  local bufnr = t.buffer({ "a b" })
  vim.api.nvim_win_set_cursor(0, { 1, 2 })
  local done
  local id = vim.api.nvim_create_autocmd("User", {
    pattern = "SwictationDone",
    once = true,
    callback = function(ev)
      done = ev.data
    end,
  })
  dictate_clip(bufnr)
  t.wait(30000, function()
    return done ~= nil
  end, function()
    return "the session did not stop on its own after the speech; log:\n"
      .. table.concat(require("swictation.log").lines, "\n")
  end)
  pcall(vim.api.nvim_del_autocmd, id)
  assert(done.ok, tostring(done.error))
  check_line(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)[1], "a ", "b")
  eq(false, swictation.is_listening())
end)
