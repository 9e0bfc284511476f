-- The first run, with editor commands only: no server installed -> :SwictationInstall (from this
-- checkout, SWICTATION_TEST_REPO) -> :SwictationModels download tone (the loopback catalogue,
-- SWICTATION_CATALOGUE) -> speech transcribed into a buffer (SWICTATION_TEST_WAV says
-- SWICTATION_TEST_TEXT) -> setup() names the downloaded tone model for fast mode -> dictation from
-- the virtual microphone (SWICTATION_TEST_MIC=1, PulseAudio through PULSE_SERVER): the tones
-- played into it (SWICTATION_TEST_TONES_WAV) land in a file as SWICTATION_TEST_TONES_TEXT. The
-- server checks the tone model on SWICTATION_CHECK_CLIP (tones: it hears no speech). Run by
-- tests/editors/test_neovim_setup.py (marked slow: pip installs).
local t = require("swictation_test")
local it, eq, contains = t.it, t.eq, t.contains

local swictation = require("swictation")
local client = require("swictation.client")
local config = require("swictation.config")
local dictation = require("swictation.dictation")
local install = require("swictation.install")

local REPO = vim.env.SWICTATION_TEST_REPO
local WAV = vim.env.SWICTATION_TEST_WAV
local TEXT = vim.env.SWICTATION_TEST_TEXT
local TONES_WAV = vim.env.SWICTATION_TEST_TONES_WAV
local TONES_TEXT = vim.env.SWICTATION_TEST_TONES_TEXT
local MAX_WER = 0.35
--- pip builds the checkout and installs its dependencies (from the index or its cache).
local INSTALL_MS = 15 * 60 * 1000

local function need_env()
  if not (REPO and WAV and TEXT and vim.env.SWICTATION_CATALOGUE) then
    t.skip("run through tests/editors/test_neovim_setup.py (needs the checkout, speech and a catalogue)")
  end
end

--- Run `cmd`, wait for `User <pattern>`; returns its data and the messages shown meanwhile.
local function run_until(cmd, pattern, ms)
  local data
  local id = vim.api.nvim_create_autocmd("User", {
    pattern = pattern,
    once = true,
    callback = function(ev)
      data = ev.data
    end,
  })
  local seen, stop = t.capture_notify(vim.log.levels.INFO)
  vim.cmd(cmd)
  local ok = vim.wait(ms, function()
    return data ~= nil
  end, 50)
  stop()
  pcall(vim.api.nvim_del_autocmd, id)
  assert(ok, ("no %s after :%s; log:\n%s"):format(pattern, cmd, table.concat(require("swictation.log").lines, "\n")))
  return data, seen
end

local function log_text()
  return table.concat(require("swictation.log").lines, "\n")
end

local function need_mic()
  need_env()
  if vim.env.SWICTATION_TEST_MIC ~= "1" or not (TONES_WAV and TONES_TEXT and vim.env.SWICTATION_CHECK_CLIP) then
    t.skip("no virtual microphone (SWICTATION_TEST_MIC=1, scripts/virtual-mic) or no tone clips")
  end
  if vim.fn.executable("paplay") ~= 1 then
    t.skip("paplay is not installed (apt-get install pulseaudio-utils)")
  end
end

local function text_of(seen)
  return table.concat(
    vim.tbl_map(function(m)
      return m.msg
    end, seen),
    "\n"
  )
end

it("no server at first: none on $PATH, none installed", function()
  need_env()
  swictation.setup({ install = { spec = REPO, gpu = "never" } })
  eq(0, vim.fn.executable("swictation-rpc"))
  local _, source = config.server_cmd()
  eq(nil, source)
end)

it(":SwictationInstall installs the server from the checkout into stdpath('data'), with progress", function()
  need_env()
  local data, seen = run_until("SwictationInstall", "SwictationInstallDone", INSTALL_MS)
  assert(data.ok, "install failed: " .. tostring(data.error) .. "\n" .. text_of(seen))
  local dir = vim.fs.joinpath(vim.fn.stdpath("data"), "swictation", "venv")
  eq(dir, install.dir())
  eq(install.bin("swictation-rpc"), data.server)
  local text = text_of(seen)
  contains(text, ("installing %s into %s with Python 3."):format(REPO, dir))
  contains(text, "installing: ") -- pip's lines, throttled
  contains(text, "installed swictation-rpc in " .. dir .. "; the plugin uses it")
  contains(table.concat(require("swictation.log").lines, "\n"), "pip: Successfully installed")
  local cmd, source = config.server_cmd()
  eq("install", source)
  eq({ install.bin("swictation-rpc"), "serve", "--stdio" }, cmd)
  -- Run again: nothing to do, and it says how to upgrade or reinstall.
  local again, seen2 = run_until("SwictationInstall", "SwictationInstallDone", 10000)
  eq(true, again.already)
  contains(text_of(seen2), ":SwictationInstall upgrade")
end)

it(":SwictationModels download tone fetches it from the catalogue with progress", function()
  need_env()
  local data, seen = run_until("SwictationModels download tone", "SwictationModelsDone", 180000)
  assert(data.ok, "download failed: " .. tostring(data.error) .. "\n" .. text_of(seen))
  -- The server that answered is the one :SwictationInstall put in the venv.
  assert(client.get())
  local cmd, source = client.running_cmd()
  eq(install.bin("swictation-rpc"), cmd[1])
  eq("install", source)
  t.truthy(#data.progress >= 2, "begin and end: " .. vim.inspect(data.progress))
  eq("begin", data.progress[1].kind)
  eq("end", data.progress[#data.progress].kind)
  contains(text_of(seen), "installed tone in " .. data.result.path)
  local listed = run_until("SwictationModels", "SwictationModelsDone", 60000)
  local installed = vim.tbl_filter(function(info)
    return info.name == "tone" and info.installed
  end, listed.result.models)
  eq(1, #installed, "tone is listed as installed")
end)

it("speech is transcribed into the buffer by the installed server", function()
  need_env()
  local bufnr = t.buffer({ "" })
  local done = t.wait_done(180000, function()
    vim.cmd("SwictationTranscribe " .. vim.fn.fnameescape(WAV))
  end)
  assert(done.ok, "transcription failed: " .. tostring(done.error))
  local text = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "\n")
  local wer = t.wer(t.words(TEXT), t.words(text))
  assert(wer <= MAX_WER, ("inserted %q for %q: WER %.2f > %.2f"):format(text, TEXT, wer, MAX_WER))
end)

it(":SwictationStatus names the installed server", function()
  need_env()
  local shown = run_until("SwictationStatus", "SwictationStatusShown", 60000)
  contains(shown.lines[1], "installed by :SwictationInstall")
  contains(shown.lines[1], install.bin("swictation-rpc"))
end)

it("setup() naming the downloaded tone model for fast mode: the server serves it", function()
  need_mic()
  -- As a user would: the config names the model (by its catalogue name) and is sourced again;
  -- setup() pushes the settings to the running server. The tones are no speech to Silero VAD, so
  -- the recording is decoded whole at the stop (vad.enabled = false).
  swictation.setup({
    install = { spec = REPO, gpu = "never" },
    settings = { models = { fast = "tone" }, defaultMode = "fast", vad = { enabled = false } },
  })
  local want = "fast mode: tone (installed, serving)"
  local lines = {}
  local deadline = vim.uv.now() + 180000
  while vim.uv.now() < deadline do
    lines = run_until("SwictationStatus", "SwictationStatusShown", 60000).lines
    if vim.tbl_contains(lines, want) then
      break
    end
    vim.wait(500)
  end
  assert(
    vim.tbl_contains(lines, want),
    ("%q not in :SwictationStatus:\n%s\nlog:\n%s"):format(want, table.concat(lines, "\n"), log_text())
  )
  eq("fast", swictation.get_mode())
end)

it("dictation from the virtual microphone writes the tone model's words into the file", function()
  need_mic()
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir, "p")
  local path = dir .. "/dictated.txt"
  vim.cmd("edit! " .. vim.fn.fnameescape(path)) -- the transcription's scratch buffer is dropped
  local bufnr = vim.api.nvim_get_current_buf()
  local listening
  local id = vim.api.nvim_create_autocmd("User", {
    pattern = "SwictationStatus",
    callback = function(ev)
      listening = listening or ev.data.state == "listening"
    end,
  })
  vim.cmd("SwictationToggle")
  t.wait(60000, function()
    return listening and dictation.session and dictation.session.phase == "listening"
  end, function()
    return "never listening; log:\n" .. log_text()
  end)
  vim.api.nvim_del_autocmd(id)
  -- Played in real time into the null sink whose monitor is the default source; the clip ends
  -- with silence, so its last tone has reached the server when paplay returns.
  local played
  vim.system({ "paplay", "--device=vsink", TONES_WAV }, {}, function(res)
    played = res
  end)
  t.wait(60000, function()
    return played ~= nil
  end, "paplay did not finish")
  assert(played.code == 0, "paplay failed: " .. vim.inspect(played))
  local done = t.wait_done(120000, function()
    vim.cmd("SwictationToggle")
  end)
  assert(done.ok, "dictation failed: " .. tostring(done.error) .. "\nlog:\n" .. log_text())
  local text = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "\n")
  eq(t.words(TONES_TEXT), t.words(text), ("inserted %q; done: %s"):format(text, vim.inspect(done)))
  vim.cmd("write")
  eq(t.words(TONES_TEXT), t.words(table.concat(vim.fn.readfile(path), "\n")), "the file on disk")
end)
