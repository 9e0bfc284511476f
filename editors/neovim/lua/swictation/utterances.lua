---@mod swictation.utterances Edits of earlier utterances: undo, history, transcribe again, refine, correct
---
--- Every edit the server proposes for an utterance already inserted goes through one path,
--- `apply`: only to the buffer whose uri the answer names (loaded in the background if needed),
--- only at the document version the server checked (when it gives one), never over text the
--- utterance did not insert. A refusal (the server's `reason`, a version mismatch, an error while
--- applying) is one message and changes nothing; the server is told what happened
--- (swictation/utteranceEditApplied), so an utterance is marked undone or replaced only once its
--- edit is in the buffer. (The VS Code client's counterpart is src/dictation.ts.)

local client = require("swictation.client")
local config = require("swictation.config")
local context = require("swictation.context")
local log = require("swictation.log")
local marks = require("swictation.marks")
local sync = require("swictation.sync")

local protocol = require("swictation.protocol")
local M = {}

---@alias swictation.EditKind "undo"|"retranscribe"|"refine"|"correct"

--- nil or JSON null.
local function none(v)
  return v == nil or v == vim.NIL
end

local function done(data)
  vim.api.nvim_exec_autocmds("User", { pattern = "SwictationDone", modeline = false, data = data })
end

--- The file name of a uri, for messages.
local function name_of(uri)
  if none(uri) then
    return "the document"
  end
  local path = uri:match("^file:") and vim.uri_to_fname(uri) or uri:gsub("^%a[%w+.-]*:", "")
  local tail = vim.fn.fnamemodify(path, ":t")
  return tail ~= "" and tail or uri
end

--- Undo (and replace) is not possible for text sent to a terminal's job.
local TERMINAL_UNDO = "undo is not supported in a terminal: the text was sent to the terminal's job, "
  .. "which cannot take it back (delete it there yourself)"

local REASONS = {
  changed = "the utterance was edited since it was dictated, so Swictation left it as it is",
  ["not-synced"] = "the server does not have the document open, so it cannot check the utterance",
  gone = "the utterance's text is no longer in its document",
  ["already-undone"] = "the utterance was already removed",
}

--- Tell the server whether the edit it proposed is in the buffer.
local function confirm(id, kind, applied, why)
  if none(id) then
    return
  end
  client.request(protocol.UTTERANCE_EDIT_APPLIED, {
    utteranceId = id,
    kind = kind,
    applied = applied,
    failureReason = why,
  }, function(err)
    if err then
      log.debug(("utteranceEditApplied %s: %s"):format(id, (log.format_rpc_error(err))))
    end
  end)
end

--- Apply an edit the server proposed for an earlier utterance, or refuse it with one message.
--- `answer` is an UndoUtteranceResult, a RetranscribeResult or RefinedParams.
---@param c vim.lsp.Client
---@param kind swictation.EditKind
---@param answer table
---@return boolean applied
---@return string? why what was shown when nothing was applied
function M.apply(c, kind, answer)
  local id = not none(answer.utteranceId) and answer.utteranceId or answer.id
  local in_terminal = not none(answer.uri) and context.bufnr_of(answer.uri)
  if in_terminal and context.is_terminal(in_terminal) then
    local msg = kind == "undo" and TERMINAL_UNDO
      or "the utterance was sent to a terminal's job, so it cannot be replaced there"
    if kind == "refine" then
      log.debug(msg) -- nobody asked: no message
    else
      log.warn(msg)
    end
    if none(answer.reason) and not none(answer.edits) and #answer.edits > 0 then
      confirm(id, kind, false, msg)
    end
    return false, msg
  end
  if not none(answer.reason) then
    local msg = not none(answer.message) and answer.message or REASONS[answer.reason] or tostring(answer.reason)
    local offered = kind ~= "undo" and not none(answer.text) and answer.text ~= ""
    if offered then
      msg = ("%s New text: %q"):format(msg, answer.text)
    end
    log.warn(msg)
    return false, msg
  end
  if answer.appliedByServer == true then
    marks.forget(id)
    return true
  end
  local edits = answer.edits
  if none(edits) then
    edits = not none(answer.edit) and { answer.edit } or {}
  end
  if #edits == 0 then
    -- Nothing proposed (nothing to undo, the same text again): say so if the server did.
    if not none(answer.message) then
      log.info(answer.message)
    end
    return false, not none(answer.message) and answer.message or nil
  end

  local uri = answer.uri
  local name = name_of(uri)
  local function refuse(why)
    log.warn(why)
    confirm(id, kind, false, why)
    return false, why
  end
  if none(uri) then
    return refuse("the server did not say which document the edit is for, so nothing was changed")
  end
  local bufnr = context.load(uri)
  if not bufnr then
    return refuse(("%s is not open and cannot be read, so nothing was changed"):format(name))
  end
  local enc = c.offset_encoding
  local want = not none(answer.version) and answer.version or nil
  local have = sync.version(c, bufnr)
  local trusted = marks.tracked(id)
  if trusted and trusted.bufnr ~= bufnr then
    trusted = nil
  end
  if want ~= nil and have ~= want then
    return refuse(
      ("%s changed since Swictation checked the utterance (version %d, now %s), so nothing was changed; try again"):format(
        name,
        want,
        have and tostring(have) or "not synced"
      )
    )
  elseif want == nil and have == nil then
    return refuse(
      ("%s is not synced with the server, so the utterance cannot be checked; nothing was changed"):format(name)
    )
  end
  for _, edit in ipairs(edits) do
    local there = context.text_in(bufnr, edit.range, enc)
    if not there then
      return refuse(("the utterance's range is not in %s any more, so nothing was changed"):format(name))
    end
    if trusted and #edits == 1 and there ~= trusted.text then
      return refuse(
        ("Neovim and the server disagree about where the utterance is in %s, so nothing was changed"):format(name)
      )
    end
  end
  local srow, scol = context.byte_position(bufnr, edits[1].range.start, enc)

  local ok, err = pcall(vim.api.nvim_buf_call, bufnr, function()
    vim.cmd("let &g:undolevels = &g:undolevels")
    vim.lsp.util.apply_text_edits(edits, bufnr, enc)
    vim.cmd("let &g:undolevels = &g:undolevels")
  end)
  if not ok then
    return refuse(("could not change %s: %s"):format(name, tostring(err)))
  end
  marks.forget(id)
  if kind ~= "undo" and #edits == 1 and srow then
    marks.track(id, bufnr, srow, scol, edits[1].newText)
  end
  confirm(id, kind, true, nil)
  if vim.fn.bufwinid(bufnr) == -1 then
    -- Not in a window: say where the change went (the buffer is modified, not written).
    log.info(("%s the utterance in %s (not written yet)"):format(kind == "undo" and "removed" or "replaced", name))
  end
  return true
end

--- The buffer of `uri` synced to `c` (loaded if needed), so the server can check it.
local function attach_uri(c, uri)
  if none(uri) then
    return nil
  end
  local bufnr = context.load(uri)
  if bufnr and context.is_terminal(bufnr) then
    return nil -- never synced: its text is the job's output
  end
  if bufnr then
    sync.attach(c, bufnr)
  end
  return bufnr
end

--- Send an edit request; a `not-synced` answer for a document Neovim has (or can read) is asked
--- once more after syncing it. `cb(err, result, client)`.
local function edit_request(method, params, uri, cb)
  local function ask(p, retry)
    client.request(method, function(c)
      attach_uri(c, uri)
      return p
    end, function(err, result, c)
      if
        retry
        and not err
        and result
        and result.reason == "not-synced"
        and not none(result.uri)
        and c
        and attach_uri(c, result.uri)
      then
        local again = vim.deepcopy(p)
        if not none(result.id) and method == protocol.UNDO_UTTERANCE then
          again.id = result.id -- the same utterance, not whatever is newest by then
        end
        uri = result.uri
        ask(again, false)
        return
      end
      cb(err, result, c)
    end)
  end
  ask(params, true)
end

--- Remove an utterance's text from its buffer (default: this editor's last utterance).
---@param id? string
---@param uri? string its document, when known (synced before asking)
function M.undo(id, uri)
  if (id == nil or id == "") and context.is_terminal(vim.api.nvim_get_current_buf()) then
    log.warn(TERMINAL_UNDO)
    done({ action = "undo", ok = false, error = TERMINAL_UNDO })
    return
  end
  local params = (id and id ~= "") and { id = id } or vim.empty_dict()
  edit_request(protocol.UNDO_UTTERANCE, params, uri, function(err, result, c)
    if err or not result then
      log.rpc_error("Undo utterance", err or "no result")
      done({ action = "undo", ok = false, error = (log.format_rpc_error(err or "no result")) })
      return
    end
    local applied, why = M.apply(c, "undo", result)
    done({ action = "undo", ok = applied, error = why, utterance_id = not none(result.id) and result.id or id })
  end)
end

--- Decode an utterance again (accurate); its text is replaced only if it is unchanged.
---@param item swictation.HistoryItem
function M.retranscribe(item)
  edit_request(protocol.RETRANSCRIBE, { id = item.id, mode = "accurate" }, item.uri, function(err, result, c)
    if err or not result then
      log.rpc_error("Retranscribe", err or "no result")
      done({ action = "retranscribe", ok = false, error = (log.format_rpc_error(err or "no result")) })
      return
    end
    local applied, why = M.apply(c, "retranscribe", result)
    -- The same text again is no refusal: nothing needed changing.
    local ok = applied or (none(result.reason) and why == nil)
    if ok then
      log.info(("%s (%s): %s"):format(result.mode, result.model, result.text))
    end
    done({
      action = "retranscribe",
      ok = ok,
      changed = applied,
      error = why,
      text = result.text,
      utterance_id = item.id,
    })
  end)
end

--- One alternative of "correct that": its text and where it comes from.
---@param alternative swictation.Alternative
function M.format_alternative(alternative)
  local from = alternative.source == "current" and ("now, %s, %s"):format(alternative.mode, alternative.model)
    or ("%s mode, %s"):format(alternative.mode, alternative.model)
  return ("%s  (%s)"):format(vim.trim(alternative.text), from)
end

--- Put `text` in the place of utterance `id` (in `uri`), through `apply`: only if the utterance
--- is unchanged; otherwise the text is offered in the message.
---@param id string
---@param text string
---@param uri? string
function M.correct_with(id, text, uri)
  edit_request(protocol.CORRECT_UTTERANCE, { utteranceId = id, text = text }, uri, function(err, result, c)
    if err or not result then
      log.rpc_error("Correct that", err or "no result")
      done({ action = "correct", ok = false, error = (log.format_rpc_error(err or "no result")) })
      return
    end
    local applied, why = M.apply(c, "correct", result)
    done({ action = "correct", ok = applied, changed = applied, error = why, text = result.text, utterance_id = id })
  end)
end

--- "Correct that": the alternatives of the last utterance (or `id`) in vim.ui.select — the text it
--- has now, then its audio decoded with the other mode; the one chosen replaces it.
---@param id? string
function M.correct(id)
  local params = (id and id ~= "") and { utteranceId = id } or vim.empty_dict()
  client.request(protocol.ALTERNATIVES, params, function(err, result)
    if err or not result then
      log.rpc_error("Correct that", err or "no result")
      done({ action = "correct", ok = false, error = (log.format_rpc_error(err or "no result")) })
      return
    end
    local function nothing(msg)
      log.info(msg)
      done({
        action = "correct",
        ok = false,
        error = msg,
        utterance_id = not none(result.utteranceId) and result.utteranceId or nil,
      })
    end
    if none(result.utteranceId) then
      return nothing(not none(result.message) and result.message or "there is nothing to correct")
    end
    local alternatives = result.alternatives or {}
    if #alternatives < 2 then
      local why = not none(result.message) and result.message or "Both modes heard the same text."
      return nothing(("no other text to offer for %q. %s"):format(vim.trim(result.text or ""), why))
    end
    vim.ui.select(alternatives, {
      prompt = "Correct: " .. (result.text or ""),
      kind = "swictation_alternatives",
      format_item = M.format_alternative,
    }, function(choice)
      if not choice or choice.source == "current" then
        done({ action = "correct", ok = false, utterance_id = result.utteranceId })
        return
      end
      M.correct_with(result.utteranceId, choice.text, not none(result.uri) and result.uri or nil)
    end)
  end)
end

--- Insert a history item again at the cursor (or over the selection), formatted for it by the
--- server, as a new utterance of its own.
---@param item swictation.HistoryItem
---@param range? table command range
function M.insert(item, range)
  local target = marks.capture(range)
  client.request(protocol.INSERT_UTTERANCE, function(c) ---@return swictation.InsertUtteranceParams?
    local ctx = marks.prepare(target, c.offset_encoding)
    if not ctx then
      return nil
    end
    sync.attach(c, target.bufnr)
    return {
      utteranceId = item.id,
      textDocument = { uri = target.uri },
      position = target.position,
      context = ctx,
    }
  end, function(err, result)
    if err or not result then
      marks.release(target)
      log.rpc_error("Insert utterance", err or "no result")
      done({ action = "insert", ok = false, error = (log.format_rpc_error(err or "no result")) })
      return
    end
    local applied = marks.apply(target, result)
    marks.release(target)
    done({ action = "insert", ok = applied, text = result.text, utterance_id = result.utteranceId })
  end)
end

--- swictation/refined: better text for an utterance already inserted.
---@param params swictation.RefinedParams
function M.on_refined(_, params)
  local c = client.get()
  if not params or not c then
    return
  end
  local applied, why = M.apply(c, "refine", params)
  if applied then
    log.debug(("refined utterance %s: %q"):format(tostring(params.utteranceId), tostring(params.text)))
  end
  done({ action = "refine", ok = applied, error = why, text = params.text, utterance_id = params.utteranceId })
end

local function history_action(item)
  local actions = {
    {
      label = "Insert at the cursor",
      run = function()
        M.insert(item)
      end,
    },
    {
      label = "Yank (unnamed register)",
      run = function()
        vim.fn.setreg('"', item.text)
        log.info("yanked")
      end,
    },
  }
  if not item.undone then
    actions[#actions + 1] = {
      label = "Remove from the buffer",
      run = function()
        M.undo(item.id, item.uri)
      end,
    }
  end
  actions[#actions + 1] = {
    label = "Transcribe again (accurate)",
    run = function()
      M.retranscribe(item)
    end,
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

--- One history line: when, mode, text, and whether it was undone.
---@param item swictation.HistoryItem
function M.format_item(item)
  local when = tostring(item.createdAt or ""):gsub("T", " "):sub(1, 19)
  return ("%s  %-8s %s%s"):format(when, item.mode or "", item.undone and "(undone) " or "", item.text)
end

--- Pick an utterance from the history (undone ones too), then insert, yank, remove or transcribe
--- it again.
---@param opts? {limit?: integer, include_undone?: boolean, on_items?: fun(items: table[])}
function M.history(opts)
  opts = opts or {}
  local params = {
    limit = opts.limit or config.options.history_limit,
    includeUndone = opts.include_undone ~= false,
  }
  client.request(protocol.HISTORY, params, function(err, result)
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
      format_item = M.format_item,
    }, function(item)
      if item then
        history_action(item)
      end
    end)
  end)
end

return M
