---@mod swictation.client The one LSP client that talks to `swictation-rpc serve --stdio`
---
--- Started on first use, not at startup. It is attached only to the buffers the plugin dictates
--- into or edits an utterance in (sync.lua), so the server can check edits of earlier utterances;
--- it is not sent every open file. New text is applied by the plugin (marks.lua) where the
--- utterance began; edits of earlier utterances go through utterances.lua.

local config = require("swictation.config")
local log = require("swictation.log")
local status = require("swictation.status")

local protocol = require("swictation.protocol")
local M = {}

M.NAME = "swictation"

local has_011 = vim.fn.has("nvim-0.11") == 1
local is_win = vim.fn.has("win32") == 1

---@type integer?
local client_id
--- When the running server was started, as the LSP log writes times.
local started_at
---@type fun(client: vim.lsp.Client?, err: string?)[]
local waiting = {}
--- Clients stopped on purpose (stop/restart/start timeout): their exit is not an error.
local stopping = {}
--- The real exit code and signal of each client (Neovim is told 0, see `spawn`).
local exits = {}
--- Clients started from the venv :SwictationInstall made.
local from_venv = {}
--- Clients that answered initialize.
local initialized = {}
--- When the running server was started (vim.uv.now()), for :SwictationStatus while it starts.
local started_ms
--- The command the running server was started with, and where it came from.
local running_cmd, running_source

--- Why the last server ended or never started ({ cmd, reason }); a status query shows it
--- instead of starting the same command again.
---@type {cmd: string[], reason: string}?
M.last_failure = nil

--- Notification handlers, filled by init.lua (dictation owns partial/stateChanged/refined).
---@type table<string, lsp.Handler>
M.handlers = {}

--- `$/progress` handlers by work-done token (models.lua registers the download's token).
---@type table<string|integer, fun(value: table, ctx: lsp.HandlerContext)>
M.progress_handlers = {}

local function is_stopped(client)
  if has_011 then
    return client:is_stopped()
  end
  return client.is_stopped()
end

--- The running client, if any (possibly still initializing).
---@return vim.lsp.Client?
function M.get()
  if not client_id then
    return nil
  end
  local client = vim.lsp.get_client_by_id(client_id)
  if client and not is_stopped(client) then
    return client
  end
  return nil
end

local function flush(client, err)
  local queue = waiting
  waiting = {}
  for _, fn in ipairs(queue) do
    local ok, e = pcall(fn, client, err)
    if not ok then
      log.error("internal error: " .. tostring(e))
    end
  end
end

--- The settings as sent to the server (init_options, and section "swictation").
---@return table
function M.settings()
  local settings = vim.deepcopy(config.options.settings)
  return vim.tbl_isempty(settings) and vim.empty_dict() or settings
end

--- The command as the user reads it: "sleep 1000, `cmd` in setup()".
local function describe(cmd, source)
  local where = ({ setup = "`cmd` in setup()", path = "on $PATH", install = "installed by :SwictationInstall" })[source]
  return ("`%s`%s"):format(table.concat(cmd, " "), where and (" (" .. where .. ")") or "")
end

--- The last thing the server wrote to stderr that is not a routine log line.
local function stderr_tail(cmd)
  return log.last_problem(log.server_stderr(cmd[1], started_at, 200))
end

--- A start that failed (exited or hung before initialize): one message, state "failed".
local function start_failed(msg)
  M.last_failure = { cmd = running_cmd, reason = msg }
  log.error(msg)
  status.set("failed", { reason = msg })
  flush(nil, msg)
  local ok, dictation = pcall(require, "swictation.dictation")
  if ok then
    dictation.on_server_exit()
  end
end

local function on_exit(_, _, id)
  vim.schedule(function()
    local on_purpose = stopping[id]
    stopping[id] = nil
    local was_initialized = initialized[id]
    initialized[id] = nil
    local code, signal = unpack(exits[id] or { 0, 0 })
    exits[id] = nil
    if from_venv[id] then
      from_venv[id] = nil
      if vim.tbl_isempty(from_venv) then
        require("swictation.install").mark_in_use(false)
      end
    end
    if id ~= client_id then
      return
    end
    client_id = nil
    local cmd, source = config.server_cmd()
    -- Like vim.lsp: exit code 0 and SIGTERM are a normal end.
    if on_purpose or (code == 0 and (signal == 0 or signal == 15)) then
      status.set("stopped")
      flush(nil, "the server stopped")
    elseif not was_initialized then
      local said = stderr_tail(cmd)
      start_failed(
        ("the server command %s exited with code %d%s before it answered initialize, so it is not the server%s; :SwictationLog shows its messages, :SwictationRestart tries again"):format(
          describe(cmd, source),
          code,
          signal ~= 0 and (" (signal %d)"):format(signal) or "",
          said and (". Its last output: " .. said) or ""
        )
      )
      return
    else
      local said = stderr_tail(cmd)
      local msg = ("the server exited (code %d, signal %d)%s; :SwictationLog shows its messages, :SwictationRestart starts it again"):format(
        code,
        signal,
        said and (": " .. said) or ""
      )
      M.last_failure = { cmd = running_cmd, reason = msg }
      log.error(msg)
      status.set("error", { reason = msg })
      flush(nil, msg)
    end
    local ok, dictation = pcall(require, "swictation.dictation")
    if ok then
      dictation.on_server_exit()
    end
  end)
end

local function wrap(method)
  return function(err, result, ctx, cfg)
    local handler = M.handlers[method]
    if handler then
      return handler(err, result, ctx, cfg)
    end
  end
end

--- A handler for each notification the protocol declares (dispatched to M.handlers).
local function notification_handlers()
  local handlers = {}
  for _, method in ipairs(protocol.notifications) do
    handlers[method] = wrap(method)
  end
  return handlers
end

---@return string? error why the server cannot be started, before trying
function M.precheck(cmd, source)
  local exe = cmd[1]
  if vim.fn.executable(exe) == 1 then
    return nil
  end
  local fix = config._snippet("cmd", { "/path/to/swictation-rpc", "serve", "--stdio" })
  if exe:find("/", 1, true) or (is_win and exe:find("\\", 1, true)) then
    -- A path, not a name looked up on $PATH: say what is wrong with it.
    local what
    if vim.fn.isdirectory(exe) == 1 then
      what = "is a directory, not a program"
    elseif vim.fn.getftype(exe) == "" then
      what = "does not exist"
    else
      what = "is not executable (no execute permission)"
    end
    return ("cannot start the server: `%s` %s (`cmd` in setup() names it). Point `cmd` at swictation-rpc: %s, or remove `cmd` and run :SwictationInstall; :checkhealth swictation has details"):format(
      exe,
      what,
      fix
    )
  end
  if source == "setup" then
    return ("cannot start the server: `%s` is not an executable on $PATH (`cmd` in setup() names it). Point `cmd` at swictation-rpc: %s, or remove `cmd` and run :SwictationInstall; :checkhealth swictation has details"):format(
      exe,
      config._snippet("cmd", { "/path/to/swictation-rpc", "serve", "--stdio" })
    )
  end
  return ("cannot start the server: swictation-rpc is not installed (`%s` is not on $PATH, nor in %s). Run :SwictationInstall to install it there, or point `cmd` at it in setup(): %s; :checkhealth swictation has details"):format(
    exe,
    require("swictation.install").dir(),
    config._snippet("cmd", { "/path/to/swictation-rpc", "serve", "--stdio" })
  )
end

--- Start the server unless it runs. Failures are reported once, here.
---@return vim.lsp.Client? client (maybe still initializing)
---@return string? err
function M.start()
  local running = M.get()
  if running then
    return running
  end
  local opts = config.options
  local cmd, source = config.server_cmd()
  local err = M.precheck(cmd, source)
  if err then
    log.error(err)
    status.set("failed", { reason = err })
    return nil, err
  end
  local settings = M.settings()
  -- The server is started through this function so that its real exit code stays ours: Neovim
  -- is told 0, and so does not add its own "Client swictation quit with exit code …" warning to
  -- the one message on_exit shows.
  local new_id
  local env = not vim.tbl_isempty(opts.cmd_env) and opts.cmd_env or nil
  local function spawn(dispatchers)
    local ours = vim.tbl_extend("force", dispatchers, {
      on_exit = function(code, signal)
        if new_id then
          exits[new_id] = { code, signal }
        end
        return dispatchers.on_exit(0, 0)
      end,
    })
    return vim.lsp.rpc.start(cmd, ours, { env = env })
  end
  ---@type vim.lsp.ClientConfig
  local cfg = {
    name = M.NAME,
    cmd = spawn,
    root_dir = vim.fn.getcwd(),
    init_options = settings,
    settings = { swictation = settings },
    handlers = vim.tbl_extend("error", notification_handlers(), {
      ["window/showMessage"] = function(_, params)
        log.from_server(params, true)
        return vim.NIL
      end,
      ["window/logMessage"] = function(_, params)
        log.from_server(params, false)
        return vim.NIL
      end,
      -- Neovim's own handler first (client.progress, the LspProgress event), then ours.
      ["$/progress"] = function(progress_err, result, ctx, cfg)
        local default = vim.lsp.handlers["$/progress"]
        local ret = default and default(progress_err, result, ctx, cfg)
        local handler = M.progress_handlers[result and result.token]
        if handler then
          handler(result.value, ctx)
        end
        return ret
      end,
    }),
    on_init = function(client)
      vim.schedule(function()
        initialized[client.id] = true
        if client.id == client_id then
          log.debug(("server initialized (client %d, %s)"):format(client.id, client.offset_encoding))
          if status.get().state == "starting" then
            status.set("idle")
          end
          flush(client, nil)
        end
      end)
    end,
    on_exit = on_exit,
  }
  local id, start_err
  local ok, e = pcall(function()
    if has_011 then
      id = vim.lsp.start(cfg, {
        attach = false,
        silent = true,
        reuse_client = function()
          return false
        end,
      })
    else
      id, start_err = vim.lsp.start_client(cfg)
    end
  end)
  if not ok or not id then
    err = ("cannot start the server `%s`: %s"):format(
      table.concat(cmd, " "),
      tostring(not ok and e or start_err or "vim.lsp.start failed (see :LspLog)")
    )
    log.error(err)
    status.set("failed", { reason = err })
    return nil, err
  end
  client_id = id
  new_id = id
  M.last_failure = nil
  running_cmd, running_source = cmd, source
  if source == "install" then
    from_venv[id] = true
    require("swictation.install").mark_in_use(true)
  end
  started_ms = vim.uv.now()
  started_at = os.date("%Y-%m-%d %H:%M:%S")
  log.debug(("starting %s (client %d)"):format(table.concat(cmd, " "), id))
  status.set("starting")
  -- A command that starts but never answers initialize (not the server, or waiting on input).
  local timeout = opts.start_timeout_ms
  vim.defer_fn(function()
    if client_id ~= id or initialized[id] then
      return
    end
    local client = vim.lsp.get_client_by_id(id)
    stopping[id] = true
    client_id = nil
    local said = stderr_tail(cmd)
    start_failed(
      ("the server command %s did not answer initialize within %d s, so it is not the server or it hangs%s; it was stopped. Check the command in a terminal; :SwictationLog shows its messages, :SwictationRestart tries again (`start_timeout_ms` in setup() sets the wait)"):format(
        describe(cmd, source),
        math.floor(timeout / 1000 + 0.5),
        said and (". Its last output: " .. said) or ""
      )
    )
    if client then
      if has_011 then
        client:stop(true)
      else
        client.stop(true)
      end
    end
  end, timeout)
  return vim.lsp.get_client_by_id(id)
end

--- Call `fn(client)` once the server is initialized (starting it if needed), or `fn(nil, err)`.
---@param fn fun(client: vim.lsp.Client?, err: string?)
function M.with_client(fn)
  local client, err = M.start()
  if not client then
    fn(nil, err)
  elseif client.initialized then
    fn(client, nil)
  else
    waiting[#waiting + 1] = fn
  end
end

--- Send a request once the server is ready; `cb(err, result, client)` runs on the main loop.
--- `err` is a JSON-RPC error table or a string when the server could not be reached.
---@param method string
---@param params table|fun(client: vim.lsp.Client): table params, or a function building them
---@param cb fun(err: table|string|nil, result: any, client: vim.lsp.Client?)
---@param bufnr? integer
function M.request(method, params, cb, bufnr)
  M.with_client(function(client, err)
    if not client then
      cb(err or "the server is not running", nil, nil)
      return
    end
    local p = params
    if type(params) == "function" then
      p = params(client)
      if p == nil then
        cb({ message = "the buffer was closed before the request was sent" }, nil, client)
        return
      end
    end
    local handler = function(rpc_err, result)
      cb(rpc_err, result, client)
    end
    local ok, request_ok
    if has_011 then
      ok, request_ok = pcall(client.request, client, method, p, handler, bufnr)
    else
      ok, request_ok = pcall(client.request, method, p, handler, bufnr)
    end
    if not ok or not request_ok then
      cb(ok and "the server has shut down" or tostring(request_ok), nil, client)
    end
  end)
end

--- Synchronous request for :checkhealth; nil, err on timeout or failure.
---@param client vim.lsp.Client
---@return any result, string|table|nil err
function M.request_sync(client, method, params, timeout_ms)
  local res, err
  if has_011 then
    res, err = client:request_sync(method, params, timeout_ms)
  else
    res, err = client.request_sync(method, params, timeout_ms)
  end
  if not res then
    return nil, err or "no response"
  end
  if res.err then
    return nil, res.err
  end
  return res.result, nil
end

function M.notify(method, params)
  local client = M.get()
  if not client or not client.initialized then
    return false
  end
  if has_011 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

--- Push the current settings (workspace/didChangeConfiguration, section "swictation").
function M.push_settings()
  local client = M.get()
  local settings = M.settings()
  if not client then
    return false
  end
  client.settings = { swictation = settings }
  if client.config then
    client.config.settings = client.settings
  end
  return M.notify("workspace/didChangeConfiguration", { settings = client.settings })
end

--- When the server was started ("%Y-%m-%d %H:%M:%S"), if it was.
function M.started_at()
  return started_at
end

--- The command and source of the running server (nil when none runs): it may differ from
--- config.server_cmd() now, e.g. while another editor reinstalls the venv it runs from.
---@return string[]? cmd
---@return string? source
function M.running_cmd()
  if M.get() then
    return running_cmd, running_source
  end
end

--- Seconds since the running server was started (for "starting" in :SwictationStatus).
---@return number?
function M.starting_for_s()
  if not client_id or not started_ms then
    return nil
  end
  return (vim.uv.now() - started_ms) / 1000
end

--- Stop the server; `force` kills it at once instead of asking it to shut down.
---@param force? boolean
function M.stop(force)
  local client = M.get()
  if not client then
    return
  end
  stopping[client.id] = true
  client_id = nil
  flush(nil, "the server was stopped")
  status.set("stopped")
  if has_011 then
    client:stop(force)
  else
    client.stop(force)
  end
end

--- Stop the server and start a fresh one (:SwictationRestart).
function M.restart()
  M.stop()
  return M.start()
end

return M
