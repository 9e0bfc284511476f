-- :SwictationModels against the real server (this checkout's, SWICTATION_TEST_PYTHON) and the
-- model-store tests' loopback catalogue (SWICTATION_CATALOGUE, a tone model named "tone").
-- Run by tests/editors/test_neovim_setup.py.
local t = require("swictation_test")
local it, eq, contains = t.it, t.eq, t.contains

local swictation = require("swictation")
local models = require("swictation.models")

local PYTHON = vim.env.SWICTATION_TEST_PYTHON
local REPO = vim.env.SWICTATION_TEST_REPO

local function need_server()
  if not (PYTHON and vim.env.SWICTATION_CATALOGUE) then
    t.skip("SWICTATION_TEST_PYTHON/SWICTATION_CATALOGUE not set: run through tests/editors/test_neovim_setup.py")
  end
  swictation.setup({
    cmd = { PYTHON, "-m", "swictation_rpc", "serve", "--stdio" },
    cmd_env = REPO and { PYTHONPATH = REPO } or {},
  })
end

--- Run `cmd` and wait for its `User SwictationModelsDone`; returns its data and the messages shown.
local function models_done(cmd, ms)
  local data
  local id = vim.api.nvim_create_autocmd("User", {
    pattern = "SwictationModelsDone",
    once = true,
    callback = function(ev)
      data = ev.data
    end,
  })
  local seen, stop = t.capture_notify(vim.log.levels.INFO)
  vim.cmd(cmd)
  local ok = vim.wait(ms or 120000, function()
    return data ~= nil
  end, 20)
  stop()
  pcall(vim.api.nvim_del_autocmd, id)
  assert(
    ok,
    ("no SwictationModelsDone after %s; log:\n%s"):format(cmd, table.concat(require("swictation.log").lines, "\n"))
  )
  return data, seen
end

local function text_of(seen)
  return table.concat(
    vim.tbl_map(function(m)
      return m.msg
    end, seen),
    "\n"
  )
end

it(":SwictationModels lists the catalogue (installed, size, role) and what each mode uses", function()
  need_server()
  local data, seen = models_done("SwictationModels")
  eq(true, data.ok)
  local text = text_of(seen)
  contains(text, "models in ")
  t.truthy(text:match("\n  tone +not installed +[%d.]+ [KMG]?B +role: fast"), "the tone model's row:\n" .. text)
  t.truthy(text:match("\n  parakeet%-tdt%-110m +not installed +~"), "an approximate size:\n" .. text)
  contains(text, "fast mode: parakeet-tdt-110m: ")
  contains(text, "Fix: :SwictationModels download parakeet-tdt-110m")
  eq(vim.log.levels.WARN, seen[1].level, "a mode's model is missing: a warning")
  t.truthy(vim.tbl_contains(models.names, "tone"), "names kept for completion")
  eq({ "tone" }, models.complete("to", "SwictationModels download to"))
  eq({ "download" }, models.complete("dow", "SwictationModels dow"))
end)

it(":SwictationStatus shows a configured model that is missing, with the download command", function()
  need_server()
  local shown
  local id = vim.api.nvim_create_autocmd("User", {
    pattern = "SwictationStatusShown",
    once = true,
    callback = function(ev)
      shown = ev.data
    end,
  })
  -- Once the engine has loaded, the bundled Whisper serves the modes whose model is missing.
  require("swictation.client").with_client(function() end)
  t.wait(120000, function()
    return require("swictation.status").get().state == "idle"
  end, "the engine did not load")
  local seen, stop = t.capture_notify(vim.log.levels.INFO)
  vim.cmd("SwictationStatus")
  t.wait(120000, function()
    return shown
  end, "no SwictationStatusShown")
  stop()
  pcall(vim.api.nvim_del_autocmd, id)
  eq(true, shown.problem)
  eq(vim.log.levels.WARN, seen[1].level)
  contains(seen[1].msg, "server: ")
  contains(seen[1].msg, "`cmd` in setup()")
  contains(seen[1].msg, "fast mode: parakeet-tdt-110m: ")
  contains(seen[1].msg, "Fix: :SwictationModels download parakeet-tdt-110m")
  contains(seen[1].msg, "accurate mode: parakeet-tdt-0.6b-v3-int8: ")
  contains(seen[1].msg, "Meanwhile whisper-tiny.en")
  contains(seen[1].msg, "serves fast mode, so dictation works")
end)

it(":SwictationModels cancel stops a download mid-transfer and nothing is installed", function()
  need_server()
  local finished
  local id = vim.api.nvim_create_autocmd("User", {
    pattern = "SwictationModelsDone",
    callback = function(ev)
      if ev.data.action == "download" then
        finished = ev.data
      end
    end,
  })
  local seen, stop = t.capture_notify(vim.log.levels.INFO)
  vim.cmd("SwictationModels download tone")
  t.wait(120000, function()
    local job = models.download_job
    return job
      and vim.iter(job.progress):any(function(v)
        return v.kind == "report" and (v.percentage or 0) > 0
      end)
  end, function()
    return "no progress report before the hold: " .. vim.inspect(models.download_job)
  end)
  vim.cmd("SwictationModels cancel")
  -- The server handles messages in order: once a later request is answered, it has the cancel,
  -- so the held transfer is released only then (else the rest could arrive first, and the
  -- whole archive be kept, leaving nothing to resume).
  local c = require("swictation.client").get()
  require("swictation.client").request_sync(c, require("swictation.protocol").STATUS, {}, 30000)
  if vim.env.SWICTATION_TEST_CANCEL_SENT then
    vim.fn.writefile({}, vim.env.SWICTATION_TEST_CANCEL_SENT) -- the loopback server sends the rest
  end
  t.wait(120000, function()
    return finished
  end, function()
    return "the cancelled download did not answer; log:\n" .. table.concat(require("swictation.log").lines, "\n")
  end)
  stop()
  pcall(vim.api.nvim_del_autocmd, id)
  eq(false, finished.ok)
  eq(true, finished.cancelled, vim.inspect(finished))
  local text = text_of(seen)
  contains(text, "downloading tone")
  contains(text, "cancelling the download of tone")
  contains(text, "Download of tone cancelled; nothing was installed (:SwictationModels download tone resumes it)")
  eq(nil, models.download_job)
  local listed = models_done("SwictationModels list")
  for _, info in ipairs(listed.result.models) do
    if info.name == "tone" then
      eq(false, info.installed, "nothing half-installed")
    end
  end
end)

it(":SwictationModels download tone shows $/progress and installs it", function()
  need_server()
  local events = {}
  local id = vim.api.nvim_create_autocmd("LspProgress", {
    callback = function(ev)
      local params = ev.data and ev.data.params or {}
      if type(params.token) == "string" and params.token:find("swictation-download", 1, true) then
        events[#events + 1] = params.value
      end
    end,
  })
  local data, seen = models_done("SwictationModels download tone")
  pcall(vim.api.nvim_del_autocmd, id)
  assert(data.ok, "download failed: " .. tostring(data.error) .. "\n" .. text_of(seen))
  eq("tone", data.result.name)
  eq(1, vim.fn.isdirectory(data.result.path), "installed at " .. tostring(data.result.path))
  -- The progress the server sent for our token, as Neovim's LspProgress saw it and as we did.
  t.truthy(#events >= 2, "begin and end: " .. vim.inspect(events))
  eq("begin", events[1].kind)
  contains(events[1].title, "tone")
  eq("end", events[#events].kind)
  eq(#events, #data.progress, "the plugin saw every $/progress of its token")
  local text = text_of(seen)
  contains(text, "downloading tone")
  contains(text, "installed tone in " .. data.result.path)

  local listed = models_done("SwictationModels list")
  local row
  for _, info in ipairs(listed.result.models) do
    if info.name == "tone" then
      row = info
    end
  end
  eq(true, row.installed)
end)

it(":SwictationModels download of an unknown model shows the server's message and fix", function()
  need_server()
  local data, seen = models_done("SwictationModels download no-such-model")
  eq(false, data.ok)
  eq(1, #seen, vim.inspect(seen))
  eq(vim.log.levels.ERROR, seen[1].level)
  contains(seen[1].msg, "swictation: Download no-such-model: ")
  contains(seen[1].msg, "no-such-model")
  t.truthy(seen[1].msg:lower():find("unknown model", 1, true), seen[1].msg)
  t.truthy(not seen[1].msg:find("Traceback", 1, true) and not seen[1].msg:find("<", 1, true), seen[1].msg)
end)

it(":SwictationModels without a name, or with an unknown subcommand, says what it takes", function()
  need_server()
  local data, seen = models_done("SwictationModels download")
  eq(false, data.ok)
  contains(seen[1].msg, "a model name is needed: :SwictationModels download NAME")
  local seen2, stop = t.capture_notify(vim.log.levels.INFO)
  vim.cmd("SwictationModels fetch")
  stop()
  contains(seen2[1].msg, 'unknown :SwictationModels subcommand "fetch"')
end)

it(":SwictationModels cancel without a download says so", function()
  need_server()
  local data, seen = models_done("SwictationModels cancel")
  eq(false, data.ok)
  contains(seen[1].msg, "no model download is running")
end)

it(":checkhealth swictation shows each mode's model and the download command for a missing one", function()
  need_server()
  vim.cmd("checkhealth swictation")
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  contains(text, "OK server found")
  contains(text, "WARNING fast mode: parakeet-tdt-110m: ")
  contains(text, ":SwictationModels download parakeet-tdt-110m")
  -- Once, with the editor command: not again as the doctor's terminal command.
  t.truthy(not text:find("swictation-rpc models download parakeet-tdt-110m", 1, true), text)
  vim.cmd("bwipeout!")
end)

it(":SwictationModels remove tone removes it; again, it says it was not installed", function()
  need_server()
  local data, seen = models_done("SwictationModels remove tone")
  assert(data.ok, vim.inspect(data))
  eq(true, data.result.removed)
  contains(text_of(seen), "removed tone")
  local again, seen2 = models_done("SwictationModels remove tone")
  t.truthy(again.ok == false or again.result.removed == false, vim.inspect(again))
  contains(text_of(seen2), "tone")
end)
