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

---@type integer?
local client_id
--- When the running server was started, as the LSP log writes times.
local started_at
---@type fun(client: vim.lsp.Client?, err: string?)[]
local waiting = {}
--- Clients stopped on purpose (stop/restart): their exit is not an error.
local stopping = {}

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

local function on_exit(code, signal, id)
  vim.schedule(function()
    local on_purpose = stopping[id]
    stopping[id] = nil
    if id ~= client_id then
      return
    end
    client_id = nil
    -- Like vim.lsp: exit code 0 and SIGTERM are a normal end.
    if on_purpose or (code == 0 and (signal == 0 or signal == 15)) then
      status.set("stopped")
      flush(nil, "the server stopped")
    else
      local said = log.last_problem(log.server_stderr(config.server_cmd()[1], started_at, 200))
      local msg = ("the server exited (code %d, signal %d)%s; :SwictationLog shows its messages, :SwictationRestart starts it again"):format(
        code,
        signal,
        said and (": " .. said) or ""
      )
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
    status.set("error", { reason = err })
    return nil, err
  end
  local settings = M.settings()
  ---@type vim.lsp.ClientConfig
  local cfg = {
    name = M.NAME,
    cmd = cmd,
    cmd_env = not vim.tbl_isempty(opts.cmd_env) and opts.cmd_env or nil,
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
    status.set("error", { reason = err })
    return nil, err
  end
  client_id = id
  started_at = os.date("%Y-%m-%d %H:%M:%S")
  log.debug(("starting %s (client %d)"):format(table.concat(cmd, " "), id))
  status.set("starting")
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
