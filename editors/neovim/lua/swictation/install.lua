---@mod swictation.install :SwictationInstall: the server in a private virtual environment
---
--- Finds a Python (>= 3.10), makes a venv under stdpath("data")/swictation/venv and pip installs
--- `install.spec` into it (with the `gpu` extra, and onnxruntime-gpu in place of onnxruntime,
--- when `nvidia-smi` runs). Every step is a child process (vim.system): the UI never waits.
--- pip's lines go to :SwictationLog, a few of them (at most one a second) to vim.notify. When it
--- ends, `User SwictationInstallDone` fires with data = { ok, error?, venv, server? }.
--- The plugin uses the venv's `swictation-rpc` when `cmd` is not set and none is on $PATH
--- (config.server_cmd()).

local config = require("swictation.config")
local log = require("swictation.log")

local M = {}

M.MIN_PYTHON = { 3, 10 }
--- At most one progress message per this many ms through vim.notify (every line is logged).
M.NOTIFY_INTERVAL_MS = 1000

local is_win = vim.fn.has("win32") == 1

---@class swictation.InstallJob
---@field proc vim.SystemObj? the running step
---@field cancelled boolean?
---@field last_lines string[] the last lines of the running step's output, for the error message

---@type swictation.InstallJob?
M.job = nil

--- The venv's folder.
---@return string
function M.dir()
  return vim.fs.joinpath(vim.fn.stdpath("data") --[[@as string]], "swictation", "venv")
end

--- A program in the venv (bin/ or Scripts\).
---@param name string
---@return string
function M.bin(name)
  if is_win then
    return vim.fs.joinpath(M.dir(), "Scripts", name .. ".exe")
  end
  return vim.fs.joinpath(M.dir(), "bin", name)
end

--- The venv's `swictation-rpc`, when it is installed there.
---@return string?
function M.server_exe()
  local exe = M.bin("swictation-rpc")
  if vim.fn.executable(exe) == 1 then
    return exe
  end
end

--- Each Neovim that runs a server from the venv keeps a file named after its pid here, so
--- `:SwictationInstall!` in another one does not delete the venv under a running server.
---@return string
function M.in_use_dir()
  return vim.fs.joinpath(M.dir(), ".swictation-in-use")
end

--- Say (or stop saying) that this Neovim runs a server from the venv.
---@param running boolean
function M.mark_in_use(running)
  local file = vim.fs.joinpath(M.in_use_dir(), tostring(vim.fn.getpid()))
  if running then
    pcall(vim.fn.mkdir, M.in_use_dir(), "p")
    pcall(vim.fn.writefile, { "swictation-rpc server of this Neovim" }, file)
  else
    pcall(vim.fn.delete, file)
  end
end

--- The pids of the other live Neovims that run a server from the venv.
---@return integer[]
function M.other_users()
  local pids = {}
  local own = vim.fn.getpid()
  for name, kind in vim.fs.dir(M.in_use_dir()) do
    local pid = tonumber(name)
    if kind == "file" and pid and pid ~= own then
      if vim.uv.kill(pid, 0) == 0 then
        pids[#pids + 1] = pid
      else
        pcall(vim.fn.delete, vim.fs.joinpath(M.in_use_dir(), name)) -- that Neovim is gone
      end
    end
  end
  table.sort(pids)
  return pids
end

local function done(data)
  vim.api.nvim_exec_autocmds("User", { pattern = "SwictationInstallDone", modeline = false, data = data })
end

--- Run `cmd`; `on_line(line)` for each line of its output (stdout and stderr), then
--- `on_exit(res)` with res = vim.SystemCompleted (code -1 and `error` when it could not start).
--- All callbacks run on the main loop.
local function run(job, cmd, on_line, on_exit)
  job.last_lines = {}
  local partial = { stdout = "", stderr = "" }
  local function line(l)
    if l:match("%S") then
      local tail = job.last_lines
      tail[#tail + 1] = l
      if #tail > 40 then
        table.remove(tail, 1)
      end
      on_line(l)
    end
  end
  local function reader(stream)
    return function(_, data)
      local lines
      if data == nil then
        lines = { partial[stream] }
        partial[stream] = ""
      else
        lines = vim.split(partial[stream] .. data:gsub("\r\n?", "\n"), "\n", { plain = true })
        partial[stream] = table.remove(lines)
      end
      vim.schedule(function()
        for _, l in ipairs(lines) do
          line(l)
        end
      end)
    end
  end
  log.notify(vim.log.levels.DEBUG, "install: $ " .. table.concat(cmd, " "), { log_only = true })
  local ok, proc = pcall(vim.system, cmd, {
    text = true,
    stdout = reader("stdout"),
    stderr = reader("stderr"),
    env = { PYTHONUNBUFFERED = "1", PIP_DISABLE_PIP_VERSION_CHECK = "1", PIP_NO_INPUT = "1" },
  }, function(res)
    vim.schedule(function()
      job.proc = nil
      on_exit(res)
    end)
  end)
  if not ok then
    vim.schedule(function()
      on_exit({ code = -1, signal = 0, error = tostring(proc) })
    end)
    return
  end
  job.proc = proc
end

local function version_ok(major, minor)
  return major > M.MIN_PYTHON[1] or (major == M.MIN_PYTHON[1] and minor >= M.MIN_PYTHON[2])
end

local PROBE = "import sys; print('%d.%d.%d' % sys.version_info[:3]); print(sys.executable)"

--- Find a Python >= 3.10: `install.python`, else python3, then python on $PATH.
--- `cb(python, version)` or `cb(nil, nil, message)`.
---@param job swictation.InstallJob
---@param cb fun(python: string?, version: string?, err: string?)
function M.find_python(job, cb)
  local want = ("%d.%d"):format(M.MIN_PYTHON[1], M.MIN_PYTHON[2])
  local configured = config.options.install.python
  local candidates
  if configured ~= "" then
    if vim.fn.executable(configured) ~= 1 then
      cb(
        nil,
        nil,
        ("install.python is %q, which is not an executable: point it at a Python %s or newer\n  %s"):format(
          configured,
          want,
          config._snippet("install.python", "/usr/bin/python3")
        )
      )
      return
    end
    candidates = { configured }
  else
    candidates = vim.tbl_filter(function(exe)
      return vim.fn.executable(exe) == 1
    end, { "python3", "python" })
    if #candidates == 0 then
      cb(
        nil,
        nil,
        ("no Python found: :SwictationInstall needs Python %s or newer as `python3` (or `python`) on $PATH. Install it (e.g. `sudo apt install python3 python3-venv`, `brew install python`), or name one in setup():\n  %s"):format(
          want,
          config._snippet("install.python", "/path/to/python3")
        )
      )
      return
    end
  end
  local too_old = {}
  local function try(i)
    local exe = candidates[i]
    if not exe then
      cb(
        nil,
        nil,
        ("%s: swictation-rpc needs Python %s or newer. Install a newer Python and name it in setup():\n  %s"):format(
          table.concat(too_old, "; "),
          want,
          config._snippet("install.python", "/path/to/python3.12")
        )
      )
      return
    end
    local out = {}
    run(job, { vim.fn.exepath(exe), "-c", PROBE }, function(l)
      out[#out + 1] = l
    end, function(res)
      local major, minor, patch = (out[1] or ""):match("^(%d+)%.(%d+)%.(%d+)$")
      if res.code == 0 and major and version_ok(tonumber(major), tonumber(minor)) then
        cb(out[2] or vim.fn.exepath(exe), ("%s.%s.%s"):format(major, minor, patch))
      else
        local first = vim.trim(out[1] or "")
        if major then
          too_old[#too_old + 1] = ("`%s` is Python %s.%s.%s"):format(exe, major, minor, patch)
        elseif res.code == 0 then
          -- It ran, but did not run the version check: it printed something else.
          too_old[#too_old + 1] = first ~= ""
              and ("`%s` answered the version check with `%s`"):format(exe, first:sub(1, 120))
            or ("`%s` printed nothing when asked for its version"):format(exe)
        else
          too_old[#too_old + 1] = ("`%s` did not run (exit code %s)%s"):format(
            exe,
            tostring(res.code),
            first ~= "" and (": " .. first:sub(1, 200)) or ""
          )
        end
        try(i + 1)
      end
    end)
  end
  try(1)
end

--- Whether to install the GPU build: `install.gpu`, or for "auto" whether `nvidia-smi` runs.
local function want_gpu(job, cb)
  local gpu = config.options.install.gpu
  if gpu ~= "auto" then
    cb(gpu == "always")
    return
  end
  if vim.fn.executable("nvidia-smi") ~= 1 then
    cb(false)
    return
  end
  run(job, { "nvidia-smi", "-L" }, function() end, function(res)
    cb(res.code == 0)
  end)
end

--- `spec` with the `gpu` extra: `name[gpu]`, `/path[gpu]`, `name[a,gpu]`, `name[gpu]==1.0`.
---@param spec string
---@return string
function M.with_gpu_extra(spec)
  local name, extras, rest = spec:match("^([^%[%s]+)%[([^%]]*)%](.*)$")
  if name then
    if vim.tbl_contains(vim.split(extras, ",", { trimempty = true }), "gpu") then
      return spec
    end
    return ("%s[%s]%s"):format(name, extras == "" and "gpu" or (extras .. ",gpu"), rest)
  end
  name, rest = spec:match("^([%w%._-]+)(%s*[=<>!~@;].*)$")
  if name then
    return name .. "[gpu]" .. rest
  end
  if spec:find("://", 1, true) then
    return spec -- a bare URL: no name to attach the extra to; the onnxruntime-gpu swap still runs
  end
  return spec .. "[gpu]"
end

local function tail(lines, n)
  return table.concat(vim.list_slice(lines, math.max(1, #lines - n + 1)), "\n")
end

--- The pip lines that say what went wrong (ERROR: ...), else the last few lines.
local function pip_error(lines)
  local errors = vim.tbl_filter(function(l)
    return l:match("^ERROR:") or l:match("^error:")
  end, lines)
  return #errors > 0 and tail(errors, 4) or tail(lines, 6)
end

---@class swictation.InstallOpts
---@field force? boolean make the venv again from scratch (:SwictationInstall!)
---@field upgrade? boolean pip install --upgrade into the venv (:SwictationInstall upgrade)
---@field on_done? fun(ok: boolean, err: string?)

--- Install (or upgrade, or reinstall) the server into the venv. Returns at once.
---@param opts? swictation.InstallOpts
function M.install(opts)
  opts = opts or {}
  if M.job then
    local msg = "an install is already running (:SwictationInstall cancel stops it; :SwictationLog shows its output)"
    log.warn(msg)
    if opts.on_done then
      opts.on_done(false, msg)
    end
    return
  end
  local dir = M.dir()
  local server = M.server_exe()
  if server and not opts.force and not opts.upgrade then
    log.info(
      ("swictation-rpc is already installed in %s; `:SwictationInstall upgrade` upgrades it, `:SwictationInstall!` installs it again from scratch"):format(
        dir
      )
    )
    done({ ok = true, venv = dir, server = server, already = true })
    if opts.on_done then
      opts.on_done(true)
    end
    return
  end
  local client = require("swictation.client")
  local _, running_source = client.running_cmd()
  local own_running = running_source == "install"
  if opts.force and server then
    local others = M.other_users()
    if #others > 0 then
      local msg = ("not reinstalling: %s %s swictation-rpc from %s, and :SwictationInstall! deletes that venv first. Quit %s first, then try again; `:SwictationInstall upgrade` upgrades it in place instead"):format(
        #others == 1 and "another Neovim (pid" or "other Neovims (pids",
        table.concat(others, ", ") .. ") " .. (#others == 1 and "runs" or "run"),
        dir,
        #others == 1 and "it" or "them"
      )
      log.warn(msg, { title = "swictation install" })
      done({ ok = false, venv = dir, error = msg })
      if opts.on_done then
        opts.on_done(false, msg)
      end
      return
    end
    if own_running then
      log.info(
        ("stopping this editor's swictation-rpc: :SwictationInstall! makes %s again; the new server starts when it is done"):format(
          dir
        ),
        { title = "swictation install" }
      )
      client.stop()
    end
  end
  local job = { last_lines = {} }
  M.job = job
  local spec = config.options.install.spec
  local title = { title = "swictation install" }
  local last_shown

  local function finish(ok, err)
    M.job = nil
    if ok then
      local exe = M.server_exe()
      local cmd, source = config.server_cmd()
      local where = source == "install" and "the plugin uses it"
        or ("the plugin uses `%s` (%s)"):format(
          table.concat(cmd, " "),
          source == "setup" and "`cmd` in setup()" or "on $PATH"
        )
      log.info(("installed swictation-rpc in %s; %s"):format(dir, where), title)
      -- A running server from the venv is the old one (or it was stopped for the reinstall):
      -- start the new one.
      if source == "install" and (client.get() or (opts.force and own_running)) then
        client.restart()
      end
      done({ ok = true, venv = dir, server = exe })
    else
      if job.cancelled then
        -- The user asked for it: not an error.
        err = "the install was cancelled"
        log.info(err .. "; :SwictationInstall starts it again (the output so far is in :SwictationLog)", title)
      else
        log.error(err .. "\n(the full output is in :SwictationLog)", title)
      end
      done({ ok = false, venv = dir, error = err })
    end
    if opts.on_done then
      opts.on_done(ok, err)
    end
  end

  local function step_failed(what, res, extra)
    if job.cancelled then
      finish(false)
      return true
    end
    if res.code ~= 0 then
      local said = res.error or pip_error(job.last_lines)
      finish(false, ("%s failed (exit code %d)%s:\n%s"):format(what, res.code, extra or "", said))
      return true
    end
  end

  --- pip's lines: all to the log, the first and then one a second to vim.notify.
  local function progress(l)
    log.notify(vim.log.levels.INFO, "pip: " .. l, { log_only = true })
    local now = vim.uv.now()
    if l:match("^%s") and not l:match("^%s+Downloading") then
      return -- pip's indented detail lines
    end
    if not last_shown or now - last_shown >= M.NOTIFY_INTERVAL_MS or l:match("^Successfully installed") then
      last_shown = now
      log.info("installing: " .. l, title)
    end
  end

  local function pip(args, what, next_step)
    local cmd = vim.list_extend({ M.bin("python"), "-m", "pip" }, args)
    run(job, cmd, progress, function(res)
      if not step_failed(what, res) then
        next_step()
      end
    end)
  end

  M.find_python(job, function(python, version, err)
    if not python then
      finish(false, err)
      return
    end
    want_gpu(job, function(gpu)
      local target = gpu and M.with_gpu_extra(spec) or spec
      log.info(
        ("installing %s into %s with Python %s (%s)%s"):format(
          target,
          dir,
          version,
          python,
          gpu and "; NVIDIA GPU found: the GPU build" or ""
        ),
        title
      )
      local function gpu_swap()
        if not gpu then
          finish(true)
          return
        end
        -- As the README's GPU install: exactly one onnxruntime, the GPU one.
        pip({ "uninstall", "-y", "onnxruntime" }, "pip uninstall onnxruntime", function()
          pip(
            { "install", "--progress-bar", "off", "--force-reinstall", "--no-deps", "onnxruntime-gpu" },
            "pip install onnxruntime-gpu",
            function()
              finish(true)
            end
          )
        end)
      end
      local function install()
        local args = { "install", "--progress-bar", "off" }
        if opts.upgrade or opts.force then
          args[#args + 1] = "--upgrade"
        end
        vim.list_extend(args, config.options.install.pip_args)
        args[#args + 1] = target
        pip(args, ("pip install %s"):format(target), gpu_swap)
      end
      if opts.force or vim.fn.executable(M.bin("python")) ~= 1 then
        local cmd = { python, "-m", "venv" }
        if opts.force then
          cmd[#cmd + 1] = "--clear"
        end
        cmd[#cmd + 1] = dir
        run(job, cmd, progress, function(res)
          if
            not step_failed(
              ("creating the virtual environment %s"):format(dir),
              res,
              " (on Debian and Ubuntu: sudo apt install python3-venv)"
            )
          then
            install()
          end
        end)
      else
        install()
      end
    end)
  end)
end

--- Stop a running install (:SwictationInstall cancel).
function M.cancel()
  local job = M.job
  if not job then
    log.info("no install is running")
    return
  end
  job.cancelled = true
  if job.proc then
    job.proc:kill("sigterm")
  end
end

--- For lazy.nvim's `build`: install or upgrade, and wait for the end. Inside lazy's build
--- coroutine it yields pip's lines as progress; elsewhere it waits with vim.wait.
--- Raises an error when the install failed.
function M.build()
  local finished, result = false, nil
  local function on_done(ok, err)
    finished, result = true, { ok = ok, err = err }
  end
  M.install({ upgrade = true, on_done = on_done })
  local co = coroutine.running()
  while not finished do
    if co and coroutine.isyieldable() then
      local job = M.job
      coroutine.yield(job and job.last_lines[#job.last_lines] or "installing swictation-rpc")
    else
      vim.wait(200, function()
        return finished
      end)
    end
  end
  if not result.ok then
    error(result.err or "the install failed", 0)
  end
end

return M
