-- No server installed: what :checkhealth, :SwictationStatus and :SwictationInstall tell the user.
-- Run by tests/editors/test_neovim_setup.py: a clean XDG_DATA_HOME and no swictation-rpc on $PATH.
local t = require("swictation_test")
local it, eq, contains = t.it, t.eq, t.contains

local swictation = require("swictation")
local config = require("swictation.config")
local install = require("swictation.install")

local PATH = vim.env.PATH

--- Run :SwictationInstall{args}; the SwictationInstallDone data and the messages shown.
local function run_install(args, ms)
  local data
  local id = vim.api.nvim_create_autocmd("User", {
    pattern = "SwictationInstallDone",
    once = true,
    callback = function(ev)
      data = ev.data
    end,
  })
  local seen, stop = t.capture_notify(vim.log.levels.INFO)
  vim.cmd("SwictationInstall" .. (args or ""))
  local ok = vim.wait(ms, function()
    return data ~= nil
  end, 50)
  stop()
  pcall(vim.api.nvim_del_autocmd, id)
  assert(ok, "no SwictationInstallDone; log:\n" .. table.concat(require("swictation.log").lines, "\n"))
  return data, seen
end

local function errors(seen)
  return vim.tbl_filter(function(m)
    return m.level == vim.log.levels.ERROR
  end, seen)
end

local function fresh(opts)
  vim.env.PATH = PATH
  swictation.setup(opts or {})
end

it("the test starts without a server: none on $PATH, none installed", function()
  fresh()
  eq(0, vim.fn.executable("swictation-rpc"), "swictation-rpc must not be on $PATH here")
  eq(nil, install.server_exe())
  local _, source = config.server_cmd()
  eq(nil, source)
end)

it(":checkhealth swictation says the server is missing and points at :SwictationInstall", function()
  fresh()
  vim.cmd("checkhealth swictation")
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  contains(text, "ERROR server not found: swictation-rpc is not installed")
  contains(text, "Run :SwictationInstall: it installs swictation-rpc with pip into " .. install.dir())
  contains(text, "install.spec: swictation-rpc")
  vim.cmd("bwipeout!")
end)

it(":SwictationStatus and a transcription say the server is not installed and how to install it", function()
  fresh()
  t.buffer({ "" })
  local seen, stop = t.capture_notify(vim.log.levels.INFO)
  vim.cmd("SwictationStatus")
  local wav = vim.fn.tempname() .. ".wav"
  vim.fn.writefile({ "RIFF" }, wav)
  t.wait_done(5000, function()
    vim.cmd("SwictationTranscribe " .. wav)
  end)
  stop()
  eq(2, #seen, vim.inspect(seen))
  contains(seen[1].msg, "(swictation-rpc serve --stdio, not found)")
  for _, m in ipairs(seen) do
    contains(m.msg, "swictation-rpc is not installed")
    contains(m.msg, "Run :SwictationInstall to install it there")
  end
end)

it(":SwictationInstall without any Python says so and how to name one", function()
  fresh()
  vim.env.PATH = vim.fn.tempname() -- an empty folder: no python3, no python
  vim.fn.mkdir(vim.env.PATH, "p")
  local data, seen = run_install("", 30000)
  eq(false, data.ok)
  local errs = errors(seen)
  eq(1, #errs, vim.inspect(seen))
  contains(errs[1].msg, "no Python found: :SwictationInstall needs Python 3.10 or newer as `python3`")
  contains(errs[1].msg, 'require("swictation").setup({ install = { python = "/path/to/python3" } })')
  eq(0, vim.fn.isdirectory(install.dir()), "nothing was created")
end)

it(":SwictationInstall with a Python older than 3.10 says which one and what is needed", function()
  fresh()
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir, "p")
  -- Answers the version probe the way a Python 3.8 does.
  vim.fn.writefile({ "#!/bin/sh", "echo 3.8.18", "echo /opt/python3.8/bin/python3" }, dir .. "/python3")
  vim.fn.setfperm(dir .. "/python3", "rwxr-xr-x")
  vim.env.PATH = dir
  local data, seen = run_install("", 30000)
  eq(false, data.ok)
  local errs = errors(seen)
  eq(1, #errs, vim.inspect(seen))
  contains(errs[1].msg, "`python3` is Python 3.8.18: swictation-rpc needs Python 3.10 or newer")
  contains(errs[1].msg, "install = { python =")
  eq(0, vim.fn.isdirectory(install.dir()), "nothing was created")
end)

it("install.python that is not an executable is named in the message", function()
  fresh({ install = { python = "/nonexistent/python3.12" } })
  local data, seen = run_install("", 30000)
  eq(false, data.ok)
  contains(errors(seen)[1].msg, 'install.python is "/nonexistent/python3.12", which is not an executable')
end)

it(":SwictationInstall with a spec pip cannot install shows pip's error and installs no server", function()
  local spec = vim.fn.tempname() .. "-not-a-project"
  vim.fn.mkdir(spec, "p")
  fresh({ install = { spec = spec, gpu = "never" } })
  local data, seen = run_install("", 180000)
  eq(false, data.ok)
  local errs = errors(seen)
  eq(1, #errs, vim.inspect(seen))
  contains(errs[1].msg, ("pip install %s failed (exit code 1)"):format(spec))
  contains(errs[1].msg, "ERROR: ")
  contains(errs[1].msg, "(the full output is in :SwictationLog)")
  t.truthy(
    vim.iter(seen):any(function(m)
      return m.msg:find("installing " .. spec .. " into " .. install.dir(), 1, true) ~= nil
    end),
    "the install said what it installs where: " .. vim.inspect(seen)
  )
  eq(nil, install.server_exe(), "no server was installed")
  local _, source = config.server_cmd()
  eq(nil, source)
  contains(table.concat(require("swictation.log").lines, "\n"), "pip: ")
end)

it("the gpu extra is added to names, paths and pinned versions", function()
  eq("swictation-rpc[gpu]", install.with_gpu_extra("swictation-rpc"))
  eq("swictation-rpc[gpu]==0.2.0", install.with_gpu_extra("swictation-rpc==0.2.0"))
  eq("swictation-rpc[test,gpu]", install.with_gpu_extra("swictation-rpc[test]"))
  eq("swictation-rpc[gpu]", install.with_gpu_extra("swictation-rpc[gpu]"))
  eq("/src/swictation-rpc[gpu]", install.with_gpu_extra("/src/swictation-rpc"))
  eq("swictation-rpc[gpu] @ https://x/y.whl", install.with_gpu_extra("swictation-rpc @ https://x/y.whl"))
end)
