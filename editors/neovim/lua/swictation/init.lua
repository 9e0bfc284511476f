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
local marks = require("swictation.marks")
local status = require("swictation.status")

local MODES = { "fast", "accurate", "auto" }
M.MODES = MODES

client.handlers[protocol.PARTIAL] = dictation.on_partial
client.handlers[protocol.STATE_CHANGED] = dictation.on_state_changed
client.handlers[protocol.REFINED] = dictation.on_refined

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

local function remove_utterance(id, uri)
  client.request(protocol.UNDO_UTTERANCE, { id = id }, function(err, result, c)
    if err or not result then
      log.rpc_error("Undo utterance", err or "no result")
      return
    end
    local uid = result.id or id
    local tracked = marks.tracked(uid)
    if tracked then
      -- Neovim knows exactly where that text is now, even after edits around it.
      marks.replace_range(tracked.bufnr, tracked.srow, tracked.scol, tracked.erow, tracked.ecol, "")
      marks.forget(uid)
    elseif not (uri and marks.apply_document_edits(uri, result.edits or {}, c.offset_encoding)) then
      log.warn("the utterance is not in an open buffer")
      return
    end
    vim.api.nvim_exec_autocmds("User", {
      pattern = "SwictationDone",
      modeline = false,
      data = { action = "undo", ok = true, utterance_id = uid },
    })
  end)
end

--- Remove an utterance's text from its buffer (default: the last one), wherever it is now.
---@param id? string utterance id (from :SwictationHistory)
function M.undo(id)
  if id and id ~= "" then
    remove_utterance(id, nil)
    return
  end
  client.request(protocol.HISTORY, { limit = 1 }, function(err, result)
    if err or not result then
      log.rpc_error("History", err or "no result")
      return
    end
    local item = (result.items or {})[1]
    if not item then
      log.info("no utterance to undo")
      return
    end
    remove_utterance(item.id, item.uri)
  end)
end

local function history_action(item)
  local actions = {
    {
      label = "Insert at the cursor",
      run = function()
        marks.insert_text(item.text)
      end,
    },
    {
      label = "Yank (unnamed register)",
      run = function()
        vim.fn.setreg('"', item.text)
        log.info("yanked")
      end,
    },
    {
      label = "Remove from the buffer",
      run = function()
        remove_utterance(item.id, item.uri)
      end,
    },
    {
      label = "Transcribe again (accurate)",
      run = function()
        client.request(protocol.RETRANSCRIBE, { id = item.id, mode = "accurate" }, function(err, result, c)
          if err or not result then
            log.rpc_error("Retranscribe", err or "no result")
            return
          end
          local tracked = marks.tracked(item.id)
          if tracked then
            marks.replace_range(tracked.bufnr, tracked.srow, tracked.scol, tracked.erow, tracked.ecol, result.text)
          elseif item.uri then
            marks.apply_document_edits(item.uri, result.edits or {}, c.offset_encoding)
          end
          log.info(("%s (%s): %s"):format(result.mode, result.model, result.text))
        end)
      end,
    },
  }
  vim.ui.select(actions, {
    prompt = "Utterance: " .. item.text,
    format_item = function(a)
      return a.label
    end,
  }, function(choice)
    if choice then
      choice.run()
    end
  end)
end

--- Pick an utterance from the history, then insert, yank, remove or transcribe it again.
---@param opts? {limit?: integer, on_items?: fun(items: table[])}
function M.history(opts)
  opts = opts or {}
  local limit = opts.limit or config.options.history_limit
  client.request(protocol.HISTORY, { limit = limit }, function(err, result)
    if err or not result then
      log.rpc_error("History", err or "no result")
      return
    end
    local items = result.items or {}
    if opts.on_items then
      opts.on_items(items)
      return
    end
    if #items == 0 then
      log.info("the history is empty")
      return
    end
    vim.ui.select(items, {
      prompt = "Swictation history",
      kind = "swictation_history",
      format_item = function(item)
        local when = tostring(item.createdAt or ""):gsub("T", " "):sub(1, 19)
        return ("%s  %-8s %s"):format(when, item.mode or "", item.text)
      end,
    }, function(item)
      if item then
        history_action(item)
      end
    end)
  end)
end

--- Stop the server and start it again (after changing `cmd`, installing models, ...).
function M.restart()
  if dictation.session then
    dictation.cancel()
  end
  client.restart()
end

--- Open the log (:SwictationLog): this plugin's messages and the server's.
function M.log()
  local opts = config.options
  local header = {
    "swictation log",
    "server command: " .. table.concat(opts.cmd, " "),
    "server state:   " .. status.get().state,
    "server stderr:  from " .. vim.lsp.get_log_path(),
    "",
  }
  local stderr = log.server_stderr(opts.cmd[1], nil, 200)
  if #stderr > 0 then
    header[#header + 1] = "-- server stderr (latest last) --"
    vim.list_extend(header, stderr)
    header[#header + 1] = ""
  end
  header[#header + 1] = "-- plugin and server messages --"
  log.open(header)
end

return M
