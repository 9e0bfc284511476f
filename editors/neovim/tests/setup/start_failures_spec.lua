-- A server command that is not the server, setup mistakes and a venv shared by two editors
-- (issue 14, outside-user findings 1, 3, 6, 10): what the user is told, once.
-- Run by tests/editors/test_neovim_setup.py: a clean XDG_DATA_HOME and no swictation-rpc on $PATH.
local t = require("swictation_test")
local it, eq, contains = t.it, t.eq, t.contains

local swictation = require("swictation")
local client = require("swictation.client")
local config = require("swictation.config")
local install = require("swictation.install")
local status = require("swictation.status")

local PATH = vim.env.PATH

local function fresh(opts)
  vim.env.PATH = PATH
  client.stop(true)
  client.last_failure = nil
  swictation.setup(opts or {})
end

local function at_least(level, seen)
  return vim.tbl_filter(function(m)
    return m.level >= level
  end, seen)
end

--- Run :SwictationStatus; the SwictationStatusShown data, if it fired before the command returned.
local function status_now()
  local shown
  local id = vim.api.nvim_create_autocmd("User", {
    pattern = "SwictationStatusShown",
    once = true,
    callback = function(ev)
      shown = ev.data
    end,
  })
  vim.cmd("SwictationStatus")
  pcall(vim.api.nvim_del_autocmd, id)
  return shown
end

local function wav()
  local file = vim.fn.tempname() .. ".wav"
  vim.fn.writefile({ "RIFF" }, file)
  return file
end

--- An executable shell script with `lines`.
local function script(path, lines)
  vim.fn.mkdir(vim.fs.dirname(path), "p")
  vim.fn.writefile(vim.list_extend({ "#!/bin/sh" }, lines), path)
  vim.fn.setfperm(path, "rwxr-xr-x")
  return path
end

--- Run :SwictationInstall{args}; the SwictationInstallDone data and the messages shown.
local function run_install(args, during)
  local data
  local id = vim.api.nvim_create_autocmd("User", {
    pattern = "SwictationInstallDone",
    once = true,
    callback = function(ev)
      data = ev.data
    end,
  })
  local seen, stop = t.capture_notify(vim.log.levels.DEBUG)
  vim.cmd("SwictationInstall" .. (args or ""))
  if during then
    during()
  end
  t.wait(60000, function()
    return data ~= nil
  end, "no SwictationInstallDone")
  stop()
  pcall(vim.api.nvim_del_autocmd, id)
  return data, seen
end

it("a command that never answers initialize gets one message after start_timeout_ms, state failed", function()
  fresh({ cmd = { "sleep", "1000" }, start_timeout_ms = 1000 })
  t.buffer({ "" })
  local seen, stop = t.capture_notify(vim.log.levels.INFO)
  local while_starting
  local done = t.wait_done(60000, function()
    vim.cmd("SwictationTranscribe " .. wav())
    while_starting = status_now()
  end)
  vim.wait(200)
  stop()
  t.truthy(while_starting, ":SwictationStatus answered at once while the server was starting")
  contains(while_starting.lines[1], "server: starting (sleep 1000, `cmd` in setup())")
  contains(while_starting.lines[2], "to answer initialize")
  eq(false, done.ok)
  local errs = at_least(vim.log.levels.WARN, seen)
  eq(1, #errs, "one message: " .. vim.inspect(seen))
  eq(vim.log.levels.ERROR, errs[1].level)
  contains(errs[1].msg, "`sleep 1000` (`cmd` in setup()) did not answer initialize within 1 s")
  eq("failed", status.get().state)
  eq("swictation: failed", swictation.status())
  eq(nil, client.get(), "the command was stopped")
  -- :SwictationStatus answers at once with the failure, and does not start it again.
  local shown = status_now()
  t.truthy(shown, ":SwictationStatus answered at once after the failure")
  eq(true, shown.problem)
  contains(table.concat(shown.lines, "\n"), "did not answer initialize within 1 s")
  eq(nil, client.get(), "a status query does not start the server again")
  eq("failed", status.get().state)
end)

it("a command that exits before initialize: one message with command, code and stderr; status shows it", function()
  local cmd = { "sh", "-c", "echo 'boom: not a server' >&2; exit 3" }
  fresh({ cmd = cmd })
  t.buffer({ "" })
  local seen, stop = t.capture_notify(vim.log.levels.INFO)
  local done = t.wait_done(60000, function()
    vim.cmd("SwictationTranscribe " .. wav())
  end)
  vim.wait(300) -- Neovim's own exit warning would show up by now
  stop()
  eq(false, done.ok)
  eq(1, #seen, "one message, not Neovim's 'Client swictation quit with exit code' too: " .. vim.inspect(seen))
  eq(vim.log.levels.ERROR, seen[1].level)
  contains(seen[1].msg, "`" .. table.concat(cmd, " ") .. "` (`cmd` in setup()) exited with code 3")
  contains(seen[1].msg, "boom: not a server")
  eq("failed", status.get().state)
  local shown = status_now()
  t.truthy(shown, ":SwictationStatus answered at once")
  eq(true, shown.problem)
  contains(shown.lines[1], "server: failed")
  contains(table.concat(shown.lines, "\n"), "exited with code 3")
  contains(table.concat(shown.lines, "\n"), "boom: not a server")
  eq(nil, client.get(), "a status query does not restart the server")
end)

it("`cmd` naming a directory or a path that does not exist says so", function()
  for _, case in ipairs({
    { "/usr/bin", "`/usr/bin` is a directory, not a program" },
    { "/nonexistent/swictation-rpc", "`/nonexistent/swictation-rpc` does not exist" },
  }) do
    fresh({ cmd = { case[1], "serve", "--stdio" } })
    t.buffer({ "" })
    local seen, stop = t.capture_notify(vim.log.levels.INFO)
    t.wait_done(10000, function()
      vim.cmd("SwictationTranscribe " .. wav())
    end)
    stop()
    eq(1, #seen, vim.inspect(seen))
    contains(seen[1].msg, case[2])
    t.truthy(not seen[1].msg:find("$PATH", 1, true), "not called a name on $PATH: " .. seen[1].msg)
  end
end)

it("a python3 that answers the version check with something else is quoted", function()
  fresh()
  local dir = vim.fn.tempname()
  script(dir .. "/python3", { "echo 'Python 3.8.0'" })
  vim.env.PATH = dir
  local data, seen = run_install("")
  eq(false, data.ok)
  local errs = at_least(vim.log.levels.ERROR, seen)
  eq(1, #errs, vim.inspect(seen))
  contains(errs[1].msg, "`python3` answered the version check with `Python 3.8.0`")
  t.truthy(not errs[1].msg:find("did not run", 1, true), errs[1].msg)
end)

it("the user's own :SwictationInstall cancel is not reported as an error", function()
  fresh()
  local dir = vim.fn.tempname()
  script(dir .. "/python3", { "exec " .. vim.fn.exepath("sleep") .. " 60" })
  vim.env.PATH = dir
  local data, seen = run_install("", function()
    vim.wait(200)
    vim.cmd("SwictationInstall cancel")
  end)
  eq(false, data.ok)
  eq({}, at_least(vim.log.levels.WARN, seen), "no warning or error: " .. vim.inspect(seen))
  t.truthy(
    vim.iter(seen):any(function(m)
      return m.level == vim.log.levels.INFO and m.msg:find("the install was cancelled", 1, true) ~= nil
    end),
    vim.inspect(seen)
  )
end)

it("options in the wrong place of setup() get a did-you-mean", function()
  local _, problems = config.resolve({ defaultMode = "fast", server = { path = "/opt/sw/bin/swictation-rpc" } })
  local text = table.concat(problems, "\n")
  contains(text, "unknown option `defaultMode`: it is a server setting: did you mean `settings.defaultMode`?")
  contains(text, 'require("swictation").setup({ settings = { defaultMode = "fast" } })')
  contains(text, "unknown option `server`: the server command is `cmd`: did you mean `cmd`?")
  contains(text, '{ cmd = { "/opt/sw/bin/swictation-rpc", "serve", "--stdio" } }')
end)

it(":SwictationInstall! refuses while another editor's server runs from the venv", function()
  fresh()
  local exe = script(install.bin("swictation-rpc"), { "exec sleep 1000" })
  local other = vim.system({ "sleep", "1000" })
  vim.fn.mkdir(install.in_use_dir(), "p")
  vim.fn.writefile({ "" }, vim.fs.joinpath(install.in_use_dir(), tostring(other.pid)))
  local data, seen = run_install("!")
  other:kill("sigkill")
  eq(false, data.ok)
  local warns = at_least(vim.log.levels.WARN, seen)
  eq(1, #warns, vim.inspect(seen))
  contains(
    warns[1].msg,
    ("not reinstalling: another Neovim (pid %d) runs swictation-rpc from %s"):format(other.pid, install.dir())
  )
  contains(warns[1].msg, ":SwictationInstall upgrade")
  eq(1, vim.fn.executable(exe), "the venv was left alone")
end)

it("a server from the venv marks it in use; :SwictationStatus names it while the venv is rebuilt", function()
  fresh({ start_timeout_ms = 600000 })
  local exe = script(install.bin("swictation-rpc"), { "exec sleep 1000" })
  local _, source = config.server_cmd()
  eq("install", source)
  t.truthy(client.start())
  local marker = vim.fs.joinpath(install.in_use_dir(), tostring(vim.fn.getpid()))
  eq(1, vim.fn.filereadable(marker), "this editor's marker in the venv")
  vim.fn.delete(exe) -- another editor's :SwictationInstall! has cleared the venv
  local shown = status_now()
  t.truthy(shown, "answered at once")
  contains(shown.lines[1], "server: starting (" .. exe .. " serve --stdio, installed by :SwictationInstall)")
  t.truthy(not table.concat(shown.lines, "\n"):find("not installed", 1, true), vim.inspect(shown.lines))
  client.stop(true)
  t.wait(10000, function()
    return vim.fn.filereadable(marker) == 0
  end, "the marker is removed when the server ends")
end)
