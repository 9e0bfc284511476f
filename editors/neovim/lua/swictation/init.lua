---@mod swictation Voice dictation for programmers, on-device (swictation-rpc)
---
--- require("swictation").setup({ ... })   -- options: :help swictation-options
---
--- Every function works without setup() (the defaults are used). The server starts on first use.

local protocol = require("swictation.protocol")
local M = {}

local client = require("swictation.client")
local config = require("swictation.config")
local dictation = require("swictation.dictation")
local log = require("swictation.log")
local status = require("swictation.status")
local utterances = require("swictation.utterances")

local MODES = { "fast", "accurate", "auto" }
M.MODES = MODES

client.handlers[protocol.PARTIAL] = dictation.on_partial
client.handlers[protocol.STATE_CHANGED] = dictation.on_state_changed
client.handlers[protocol.REFINED] = utterances.on_refined
client.handlers[protocol.PHRASE_COMMITTED] = dictation.on_phrase_committed

--- Set the options (see `:help swictation-options`). A running server gets the new settings.
---@param opts? swictation.Config
function M.setup(opts)
  local problems = config.setup(opts)
  client.push_settings()
  return problems
end

local function check_mode(mode)
  if mode == nil or mode == "" then
    return true
  end
  if vim.tbl_contains(MODES, mode) then
    return true
  end
  log.error(("unknown mode %q: use one of %s"):format(mode, table.concat(MODES, ", ")))
  return false
end

--- Start listening; the text goes where the cursor is now (or replaces the visual selection).
---@param opts? {mode?: "fast"|"accurate"|"auto", range?: table}
function M.start(opts)
  opts = opts or {}
  if check_mode(opts.mode) then
    dictation.start(opts)
  end
end

--- Stop listening and insert the final text.
function M.stop()
  dictation.stop()
end

--- Start or stop.
---@param opts? {mode?: "fast"|"accurate"|"auto", range?: table}
function M.toggle(opts)
  opts = opts or {}
  if check_mode(opts.mode) then
    dictation.toggle(opts)
  end
end

--- Stop listening and drop what was heard.
function M.cancel()
  dictation.cancel()
end

--- Insert the transcript of an audio file at the cursor (or over the visual selection).
---@param file string WAV/FLAC/OGG
---@param opts? {mode?: "fast"|"accurate"|"auto", range?: table}
function M.transcribe(file, opts)
  opts = opts or {}
  if check_mode(opts.mode) then
    dictation.transcribe(file, opts)
  end
end

--- Whether a dictation session is active.
function M.is_listening()
  return dictation.session ~= nil
end

--- The mode requests use when they name none (the server's `defaultMode` setting).
---@return "fast"|"accurate"|"auto"
function M.get_mode()
  return config.options.settings.defaultMode or "auto"
end

--- Set the default mode and push it to the server (:SwictationMode).
---@param mode "fast"|"accurate"|"auto"
function M.set_mode(mode)
  if mode == nil or mode == "" then
    log.info("mode: " .. M.get_mode())
    return
  end
  if not check_mode(mode) then
    return
  end
  config.options.settings.defaultMode = mode
  client.push_settings()
  log.info("mode: " .. mode)
end

--- The statusline component: "swictation: listening", "" while no server runs.
---@return string
function M.status()
  return status.statusline()
end

--- Remove an utterance's text from its buffer (default: this editor's last one), only if it is
--- still exactly there; otherwise one message says why.
---@param id? string utterance id (from :SwictationHistory)
function M.undo(id)
  utterances.undo(id)
end

--- "Correct that": choose among the alternatives of the last utterance (or `id`): the text it has,
--- and its audio decoded with the other mode; the choice replaces it where it is, if unchanged.
---@param id? string
function M.correct(id)
  utterances.correct(id)
end

--- Pick an utterance from the history (undone ones too), then insert it at the cursor, yank it,
--- remove it or transcribe it again.
---@param opts? {limit?: integer, include_undone?: boolean, on_items?: fun(items: table[])}
function M.history(opts)
  utterances.history(opts)
end

--- Stop the server and start it again (after changing `cmd`, installing models, ...). A dictation
--- in progress is stopped first, like :SwictationStop: its text goes in, then the server restarts.
function M.restart()
  if dictation.session then
    dictation.stop(function()
      client.restart()
    end)
    return
  end
  client.restart()
end

local SOURCES = {
  setup = "`cmd` in setup()",
  path = "on $PATH",
  install = "installed by :SwictationInstall",
}

--- :SwictationStatus: the server's state, the command, and the model each mode uses, with what
--- to run when one is missing or broken. Fires `User SwictationStatusShown` (data = { lines, problem }).
function M.show_status()
  local cmd, source = client.running_cmd()
  if not cmd then
    cmd, source = config.server_cmd()
  end
  local state = status.get()
  local function header(s)
    return ("server: %s (%s%s)"):format(
      s,
      table.concat(cmd, " "),
      source and (", " .. SOURCES[source]) or ", not found"
    )
  end
  local lines = { header(state.state) }
  local function show(problem)
    log.notify(problem and vim.log.levels.WARN or vim.log.levels.INFO, table.concat(lines, "\n"), {
      title = "swictation status",
    })
    vim.api.nvim_exec_autocmds("User", {
      pattern = "SwictationStatusShown",
      modeline = false,
      data = { lines = lines, problem = problem },
    })
  end
  local running = client.get()
  -- Answered from what the plugin knows: a status query neither waits for a server that is
  -- starting nor starts again one that failed.
  if running and not running.initialized then
    local waited = client.starting_for_s() or 0
    lines[#lines + 1] = ("waiting %d s so far for it to answer initialize (it is given %d s: start_timeout_ms)"):format(
      math.floor(waited),
      math.floor(config.options.start_timeout_ms / 1000 + 0.5)
    )
    show(false)
    return
  end
  local failure = client.last_failure
  if not running and failure and vim.deep_equal(failure.cmd, cmd) then
    lines[#lines + 1] = failure.reason
    show(true)
    return
  end
  if not source then
    lines[#lines + 1] = client.precheck(cmd, source) or "the server is not installed: run :SwictationInstall"
    show(true)
    return
  end
  client.request(protocol.STATUS, vim.empty_dict(), function(err, result)
    if err or not result then
      lines[#lines + 1] = "status: " .. (log.format_rpc_error(err or "no answer"))
      show(true)
      return
    end
    lines[1] = header(result.state)
    local language = vim.tbl_get(result, "engine", "language")
    if type(language) == "string" then
      local heard = require("swictation.dictation").last_language
      lines[#lines + 1] = ("language: %s%s"):format(
        language,
        type(heard) == "string" and (" (last utterance heard in %s)"):format(heard) or ""
      )
    end
    require("swictation.models").fetch(function(models_err, models)
      local problem = result.state == "error"
      if models_err or not models then
        lines[#lines + 1] = "models: " .. (log.format_rpc_error(models_err or "no answer"))
      else
        -- What serves each mode now: a missing model's mode is served by the bundled Whisper.
        local serving = {}
        for _, m in ipairs(vim.tbl_get(result, "engine", "models") or {}) do
          if m.ready and type(m.name) == "string" then
            serving[m.mode] = m.name
          end
        end
        for _, l in ipairs(require("swictation.models").mode_lines(models, serving)) do
          lines[#lines + 1] = l.text
          problem = problem or l.problem
        end
      end
      show(problem)
    end)
  end)
end

--- Open the log (:SwictationLog): this plugin's messages and the server's.
function M.log()
  local cmd = config.server_cmd()
  local header = {
    "swictation log",
    "server command: " .. table.concat(cmd, " "),
    "server state:   " .. status.get().state,
    "server stderr:  from " .. vim.lsp.get_log_path(),
    "",
  }
  local stderr = log.server_stderr(cmd[1], nil, 200)
  if #stderr > 0 then
    header[#header + 1] = "-- server stderr (latest last) --"
    vim.list_extend(header, stderr)
    header[#header + 1] = ""
  end
  header[#header + 1] = "-- plugin and server messages --"
  log.open(header)
end

return M
