---@mod swictation.health :checkhealth swictation
---
--- Server found and starts, Python version, models installed, audio input devices, GPU: from
--- `swictation-rpc doctor --json` and from a live `swictation/status` (the running server's, or a
--- short-lived one started just for the check).

local protocol = require("swictation.protocol")
local M = {}

local config = require("swictation.config")

local DOCTOR_TIMEOUT_MS = 60000
local START_TIMEOUT_MS = 30000
local STATUS_TIMEOUT_MS = 10000
local LOAD_TIMEOUT_MS = 60000

local has_011 = vim.fn.has("nvim-0.11") == 1
local h = vim.health

--- `cmd` with its `serve …` tail swapped for `doctor --json` (nil when there is no `serve`).
---@param cmd string[]
---@return string[]?
function M.doctor_cmd(cmd)
  for i, arg in ipairs(cmd) do
    if arg == "serve" then
      local out = vim.list_slice(cmd, 1, i - 1)
      vim.list_extend(out, { "doctor", "--json" })
      local models_dir = vim.tbl_get(config.options.settings, "models", "modelsDir")
      if type(models_dir) == "string" then
        vim.list_extend(out, { "--models-dir", models_dir })
      end
      return out
    end
  end
end

local function tail(text, n)
  local lines = vim.split(vim.trim(text or ""), "\n", { plain = true })
  return table.concat(vim.list_slice(lines, math.max(1, #lines - n + 1)), "\n")
end

---@return table? report, string? err
local function run_doctor(cmd)
  local ok, proc = pcall(vim.system, cmd, { text = true, env = config.options.cmd_env })
  if not ok then
    return nil, tostring(proc)
  end
  local res = proc:wait(DOCTOR_TIMEOUT_MS)
  if res.code ~= 0 then
    return nil,
      ("exit code %d%s\n%s"):format(
        res.code,
        res.signal ~= 0 and (", signal " .. res.signal) or "",
        tail(res.stderr, 15)
      )
  end
  local decoded_ok, report = pcall(vim.json.decode, res.stdout or "", { luanil = { object = true, array = true } })
  if not decoded_ok or type(report) ~= "table" then
    return nil, "its output is not JSON: " .. tail(res.stdout, 5)
  end
  return report
end

--- `report_modes` names the models it reported with the editor command (`covered`): the doctor's
--- own finding for the same model (a terminal command) is not shown again.
---@param covered? table<string, boolean>
local function report_doctor(report, covered)
  covered = covered or {}
  h.start("swictation: Python and packages")
  local py = report.python or {}
  local version = py.version or "?"
  local major, minor = tostring(version):match("^(%d+)%.(%d+)")
  if major and (tonumber(major) > 3 or (tonumber(major) == 3 and tonumber(minor) >= 10)) then
    h.ok(("Python %s (%s)"):format(version, py.executable or "?"))
  else
    h.error(("Python %s (%s): swictation-rpc needs Python >= 3.10"):format(version, py.executable or "?"))
  end
  h.info("swictation-rpc " .. tostring(report.swictationRpc or "?"))
  local pkgs = {}
  for name, v in pairs(report.packages or {}) do
    pkgs[#pkgs + 1] = ("%s %s"):format(name, v == nil and "-" or tostring(v))
  end
  table.sort(pkgs)
  if #pkgs > 0 then
    h.info("packages: " .. table.concat(pkgs, ", "))
  end

  h.start("swictation: models")
  h.info("models folder: " .. tostring(report.modelsDir or "?"))
  local models = report.models or {}
  for _, model in ipairs(models) do
    if model.verified then
      h.ok(("installed: %s"):format(model.name))
    else
      h.error(("installed but broken: %s: %s"):format(model.name, vim.inspect(model.problems)), {
        (":SwictationModels! download %s"):format(model.name),
        ("swictation-rpc models verify %s"):format(model.name),
      })
    end
  end
  local bundled = report.bundledModel
  if type(bundled) == "table" then
    if bundled.present then
      h.ok(("bundled model: %s"):format(bundled.name or "?"))
    else
      h.warn(("bundled model missing: %s %s"):format(bundled.name or "?", bundled.problem or ""))
    end
  end
  if #models == 0 then
    h.warn("no Parakeet model installed: the bundled Whisper model serves both modes", {
      ":SwictationModels download parakeet-tdt-110m",
      ":SwictationModels download parakeet-tdt-0.6b-v3-int8",
    })
  end

  h.start("swictation: audio input")
  local devices = report.audioInputDevices or {}
  if #devices == 0 then
    h.warn("no audio input device: :SwictationStart cannot listen (file transcription still works)", {
      "Connect a microphone, or check PulseAudio/PipeWire and PortAudio (Debian: libportaudio2)",
      'Pick one with settings = { audio = { inputDevice = "name" } }',
    })
  else
    for _, d in ipairs(devices) do
      h.ok(("[%s] %s%s"):format(tostring(d.index), d.name, d.default and " (default)" or ""))
    end
  end

  h.start("swictation: GPU")
  local ort = report.onnxruntime or {}
  local providers = table.concat(ort.providers or {}, ", ")
  if type(report.gpu) == "table" then
    local g = report.gpu
    local line = ("%s, %.0f MB free of %.0f MB"):format(g.name or "?", g.memoryFreeMb or 0, g.memoryTotalMb or 0)
    if ort.cuda then
      h.ok(line .. "; onnxruntime providers: " .. providers)
    else
      h.warn(line .. "; onnxruntime has no CUDA provider (" .. providers .. ")", {
        "pip install 'swictation-rpc[gpu]' (see the README, GPU install)",
      })
    end
  else
    h.info("no NVIDIA GPU found: the CPU is used (onnxruntime providers: " .. providers .. ")")
  end

  -- The doctor's other findings (those not already shown above).
  local rest = {}
  for _, p in ipairs(report.problems or {}) do
    local shown = (#models == 0 and p:find("Parakeet model", 1, true))
      or (#devices == 0 and p:find("audio input device", 1, true))
      or (type(report.gpu) == "table" and not ort.cuda and p:find("CUDA provider", 1, true))
    local model = p:match("models download ([%w%._%-]+)")
    if model and covered[model] then
      shown = true
    end
    if not shown then
      rest[#rest + 1] = { text = p, model = model }
    end
  end
  if #rest > 0 then
    h.start("swictation: other findings")
    for _, p in ipairs(rest) do
      -- The editor command first: the venv's `swictation-rpc` is not on $PATH.
      h.warn(p.text, p.model and { (":SwictationModels download %s"):format(p.model) } or nil)
    end
  end
end

local function request_sync(client, method, params, timeout)
  return require("swictation.client").request_sync(client, method, params, timeout)
end

local function stop(client)
  if has_011 then
    client:stop(true)
  else
    client.stop(true)
  end
end

--- A short-lived server to prove it starts; nil, err when it does not.
local function start_probe(cmd)
  local opts = config.options
  local settings = require("swictation.client").settings()
  local exit_info
  local cfg = {
    name = "swictation-health",
    cmd = cmd,
    cmd_env = not vim.tbl_isempty(opts.cmd_env) and opts.cmd_env or nil,
    root_dir = vim.fn.getcwd(),
    init_options = settings,
    settings = { swictation = settings },
    handlers = {
      ["window/showMessage"] = function()
        return vim.NIL
      end,
      ["window/logMessage"] = function()
        return vim.NIL
      end,
    },
    on_exit = function(code, signal)
      exit_info = { code = code, signal = signal }
    end,
  }
  local id
  local ok, err = pcall(function()
    if has_011 then
      id = vim.lsp.start(cfg, {
        attach = false,
        silent = true,
        reuse_client = function()
          return false
        end,
      })
    else
      id = vim.lsp.start_client(cfg)
    end
  end)
  if not ok or not id then
    return nil, tostring(err or "vim.lsp.start failed")
  end
  local client = vim.lsp.get_client_by_id(id)
  local ready = vim.wait(START_TIMEOUT_MS, function()
    return exit_info ~= nil or (client ~= nil and client.initialized == true)
  end, 50)
  if exit_info then
    return nil,
      ("it exited during start (code %d, signal %d); run `%s` in a terminal to see why"):format(
        exit_info.code,
        exit_info.signal,
        table.concat(cmd, " ")
      )
  end
  if not ready or not client then
    if client then
      stop(client)
    end
    return nil, ("it did not answer initialize within %d s"):format(START_TIMEOUT_MS / 1000)
  end
  return client
end

local function report_status(result, running)
  local where = running and "" or " (a server started for this check)"
  if result.state == "error" then
    h.error(("server state: error%s"):format(where), { "Run :SwictationLog to see why" })
  elseif result.state == "loading" then
    h.warn(("server state: still loading the engine after %d s%s"):format(LOAD_TIMEOUT_MS / 1000, where))
  else
    h.ok(("server state: %s%s"):format(result.state, where))
  end
  local engine = result.engine or {}
  local serving = {}
  for _, m in ipairs(engine.models or {}) do
    local line = ("%s mode: %s (%s, %s)"):format(m.mode, m.name, m.backend, m.provider)
    if m.ready then
      serving[m.mode] = m.name
    end
    if m.ready and not m.problem then
      h.ok(line)
    elseif m.ready and tostring(m.problem):find("Meanwhile", 1, true) then
      -- Serving in place of the configured model: that one is reported once, below, with the
      -- editor command that installs it.
      h.ok(line .. ": serves this mode until its configured model can")
    elseif m.problem then
      h.warn(line .. ": " .. m.problem)
    else
      h.info(line .. ": loading")
    end
  end
  if result.gpu then
    h.info(("GPU in use: %s"):format(result.gpu.name))
  end
  return serving
end

--- Each mode's model from `swictation/models`: missing or broken ones with the download command.
local function report_modes(client, serving)
  local models = require("swictation.models")
  local result, err = request_sync(client, protocol.MODELS, vim.empty_dict(), STATUS_TIMEOUT_MS)
  if not result then
    h.info(
      "the model each mode uses is not known: swictation/models did not answer: "
        .. (require("swictation.log").format_rpc_error(err or "no answer"))
    )
    return
  end
  local by_name = {}
  for _, info in ipairs(result.models or {}) do
    by_name[info.name] = info
  end
  local covered = {}
  for _, mode in ipairs(result.modes or {}) do
    local line = models.mode_lines({ models = result.models, modes = { mode } }, serving)[1]
    if line.problem then
      h.warn(line.text, { models.fix_for(mode, by_name) })
      covered[mode.model] = true
    else
      h.ok(line.text)
    end
  end
  return covered
end

--- Per-phrase commit, sounds and announcements: what the server says it does (its `config` in
--- swictation/status), else what is sent to it.
---@param server_config table? `config` from swictation/status
function M.report_signals(server_config)
  local opts = config.options
  h.start("swictation: dictation and signals")
  local function setting(path, default)
    local from_server = server_config and vim.tbl_get(server_config, unpack(path))
    if from_server ~= nil then
      return from_server, "the server's setting"
    end
    local sent = vim.tbl_get(opts.settings, unpack(path))
    if sent ~= nil then
      return sent, "settings." .. table.concat(path, ".")
    end
    return default, "the server's default"
  end
  local commit, commit_from = setting({ "dictation", "commit" }, "onStop")
  if commit == "perPhrase" then
    h.ok(("phrases go in as you speak (dictation.commit = perPhrase, %s)"):format(commit_from))
  else
    h.info(
      ("the text goes in when dictation stops (dictation.commit = %s, %s)"):format(tostring(commit), commit_from),
      { 'For each phrase as you speak: setup({ settings = { dictation = { commit = "perPhrase" } } })' }
    )
  end
  local sounds, sounds_from = setting({ "signals", "sounds" }, true)
  h.info(("start/stop/error sounds: %s (signals.sounds, %s)"):format(sounds and "on" or "off", sounds_from))
  local level = opts.signals.announce
  if type(level) == "number" then
    local names = { [0] = "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF" }
    h.ok(("inserted text is announced with vim.notify at %s (signals.announce)"):format(names[level] or level))
  else
    h.info("inserted text is not announced (signals.announce = false)")
  end
end

function M.check()
  local opts = config.options
  h.start("swictation: Neovim")
  local v = vim.version()
  if vim.fn.has("nvim-0.10") == 1 then
    h.ok(("Neovim %d.%d.%d"):format(v.major, v.minor, v.patch))
  else
    h.error("swictation needs Neovim >= 0.10")
  end

  h.start("swictation: server")
  local cmd, source = config.server_cmd()
  local exe = cmd[1]
  local install = require("swictation.install")
  if vim.fn.executable(exe) ~= 1 then
    if source == "setup" then
      h.error(("server not found: `%s` is not an executable on $PATH (cmd = %s)"):format(exe, vim.inspect(cmd)), {
        'Point setup() at it: require("swictation").setup({ cmd = { "/path/to/swictation-rpc", "serve", "--stdio" } })',
        "Or install it (pipx install swictation-rpc), or remove `cmd` from setup() and run :SwictationInstall",
      })
    else
      h.error(
        ("server not found: swictation-rpc is not installed (`%s` is not on $PATH, nor in %s)"):format(
          exe,
          install.dir()
        ),
        {
          ("Run :SwictationInstall: it installs swictation-rpc with pip into %s (install.spec: %s)"):format(
            install.dir(),
            opts.install.spec
          ),
          "Or install it yourself (pipx install swictation-rpc) and put it on $PATH",
          'Or point setup() at it: require("swictation").setup({ cmd = { "/path/to/swictation-rpc", "serve", "--stdio" } })',
        }
      )
    end
    return
  end
  local how = ({ setup = "`cmd` in setup()", path = "on $PATH", install = "installed by :SwictationInstall" })[source]
  h.ok(("server found: %s (%s; cmd = %s)"):format(vim.fn.exepath(exe), how or "?", table.concat(cmd, " ")))

  local doctor = M.doctor_cmd(cmd)
  local report
  if doctor then
    local err
    report, err = run_doctor(doctor)
    if report then
      h.ok(("`%s` ran"):format(table.concat(doctor, " ")))
    else
      h.error(("`%s` failed: %s"):format(table.concat(doctor, " "), err))
    end
  else
    h.info("`cmd` has no `serve` argument: cannot derive the `doctor --json` command")
  end

  -- Does it start and answer?
  local covered, server_config
  local running = require("swictation.client").get()
  local client, start_err = running, nil
  if not (running and running.initialized) then
    client, start_err = start_probe(cmd)
  end
  if not client then
    h.error("the server does not start: " .. start_err, { "Run :SwictationLog, or the command in a terminal" })
  else
    h.ok(
      ("the server starts and answers initialize (%s %s)"):format(
        vim.tbl_get(client, "server_info", "name") or "server",
        vim.tbl_get(client, "server_info", "version") or ""
      )
    )
    local result, err = request_sync(client, protocol.STATUS, vim.empty_dict(), STATUS_TIMEOUT_MS)
    -- Wait for the engine to load, so "starts" means it can transcribe.
    local deadline = vim.uv.now() + LOAD_TIMEOUT_MS
    while result and result.state == "loading" and vim.uv.now() < deadline do
      vim.wait(250)
      result, err = request_sync(client, protocol.STATUS, vim.empty_dict(), STATUS_TIMEOUT_MS)
    end
    local serving
    if result then
      serving = report_status(result, running ~= nil)
      server_config = result.config
    else
      h.warn("swictation/status did not answer: " .. (type(err) == "table" and tostring(err.message) or tostring(err)))
    end
    covered = report_modes(client, serving)
    if client ~= running then
      stop(client)
    end
  end

  M.report_signals(server_config)
  if report then
    report_doctor(report, covered)
  end
end

return M
