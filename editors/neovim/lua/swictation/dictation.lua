---@mod swictation.dictation The dictation session and file transcription
---
--- One session at a time: start (with the target and its context), stop (the final text is
--- applied at the target), cancel, and the server's notifications about it (partial text, state,
--- refined text). Where text goes is marks.lua; what the server is told about it, context.lua.
--- (The VS Code client's counterpart is src/dictation.ts.)

local client = require("swictation.client")
local config = require("swictation.config")
local log = require("swictation.log")
local marks = require("swictation.marks")
local status = require("swictation.status")
local sync = require("swictation.sync")

local protocol = require("swictation.protocol")
local M = {}

---@class swictation.Session
---@field target swictation.Target
---@field phase "starting"|"listening"|"stopping"
---@field id string? session id from the server
---@field stop_requested boolean? stop asked while starting
---@field cancel_requested boolean? cancel asked while starting

---@type swictation.Session?
M.session = nil

--- Fire `User SwictationDone` when a transcription or dictation ended (data: what happened).
local function done(data)
  vim.api.nvim_exec_autocmds("User", { pattern = "SwictationDone", modeline = false, data = data })
end

--- Report a failure and forget the target.
--- A spoken "correct that" inserted nothing: open the alternatives of the utterance it names.
local function correct_if_asked(result)
  if type(result.correctUtteranceId) == "string" then
    require("swictation.utterances").correct(result.correctUtteranceId)
  end
end

local function fail(target, what, err, action)
  if target then
    marks.release(target)
  end
  if type(err) == "string" then
    -- Could not reach the server: client.lua already said why.
    log.debug(("%s: %s"):format(what, err))
  else
    log.rpc_error(what, err)
  end
  done({ action = action, ok = false, error = (log.format_rpc_error(err)) })
end

---@param opts? {mode?: string, range?: table}
function M.transcribe(file, opts)
  opts = opts or {}
  if not file or file == "" then
    fail(nil, "Transcribe", { message = "a file is needed: :SwictationTranscribe {file}" }, "transcribe")
    return
  end
  local path = vim.fn.fnamemodify(vim.fn.expand(file), ":p")
  if vim.fn.filereadable(path) ~= 1 then
    fail(nil, "Transcribe", { message = ("cannot read the audio file %s"):format(path) }, "transcribe")
    return
  end
  local target = marks.capture(opts.range)
  marks.show_interim(target, "…")
  client.request(protocol.TRANSCRIBE, function(c) ---@return swictation.TranscribeParams?
    local context = marks.prepare(target, c.offset_encoding)
    if not context then
      return nil
    end
    -- The server follows the text from here on (undo, refine, retranscribe check against it).
    sync.attach(c, target.bufnr)
    return {
      textDocument = { uri = target.uri },
      position = target.position,
      audio = { path = path },
      mode = opts.mode,
      context = context,
      waitForEngine = config.options.wait_for_engine,
    }
  end, function(err, result)
    if err or not result then
      fail(target, "Transcribe", err or "no result", "transcribe")
      return
    end
    local applied = marks.apply(target, result)
    marks.release(target)
    correct_if_asked(result)
    log.debug(("transcribed %s (%s, %s): %q"):format(path, result.mode, result.model, result.text))
    done({ action = "transcribe", ok = true, applied = applied, text = result.text, utterance_id = result.utteranceId })
  end)
end

---@param opts? {mode?: string, range?: table}
function M.start(opts)
  opts = opts or {}
  if M.session then
    log.warn("already dictating; :SwictationStop inserts the text, :SwictationCancel drops it")
    return
  end
  local target = marks.capture(opts.range)
  local session = { phase = "starting", target = target }
  M.session = session
  client.request(protocol.START_DICTATION, function(c) ---@return swictation.StartDictationParams?
    local context = marks.prepare(target, c.offset_encoding)
    if not context then
      return nil
    end
    -- The server follows the text from here on (undo, refine, retranscribe check against it).
    sync.attach(c, target.bufnr)
    return {
      textDocument = { uri = target.uri },
      position = target.position,
      mode = opts.mode,
      context = context,
    }
  end, function(err, result)
    if err or not result then
      if M.session == session then
        M.session = nil
      end
      fail(session.target, "Start dictation", err or "no result", "dictation")
      return
    end
    session.id = result.sessionId
    session.phase = "listening"
    if M.session ~= session then
      return
    end
    if session.cancel_requested then
      M.cancel()
    elseif session.stop_requested then
      M.stop()
    end
  end)
end

function M.stop()
  local session = M.session
  if not session then
    log.warn("not dictating; :SwictationStart starts")
    return
  end
  if session.phase == "starting" then
    session.stop_requested = true
    return
  end
  if session.phase == "stopping" then
    return
  end
  session.phase = "stopping"
  client.request(protocol.STOP_DICTATION, { sessionId = session.id }, function(err, result)
    if M.session == session then
      M.session = nil
    end
    if err or not result then
      fail(session.target, "Stop dictation", err or "no result", "dictation")
      return
    end
    local applied = marks.apply(session.target, result)
    marks.release(session.target)
    correct_if_asked(result)
    done({ action = "dictation", ok = true, applied = applied, text = result.text, utterance_id = result.utteranceId })
  end)
end

function M.toggle(opts)
  if M.session then
    M.stop()
  else
    M.start(opts)
  end
end

function M.cancel()
  local session = M.session
  if not session then
    log.info("not dictating")
    return
  end
  if session.phase == "starting" then
    session.cancel_requested = true
    return
  end
  M.session = nil
  marks.release(session.target)
  client.request(protocol.CANCEL_DICTATION, { sessionId = session.id }, function(err)
    if err then
      log.rpc_error("Cancel dictation", err)
    end
  end)
end

--- swictation/partial: interim text of the whole session so far.
---@param params swictation.PartialParams
function M.on_partial(_, params)
  local session = M.session
  if not params or not session or not session.target then
    return
  end
  if session.id and params.sessionId and params.sessionId ~= session.id then
    return
  end
  marks.show_interim(session.target, params.text or "")
end

--- swictation/stateChanged: the status item, and the end of a session the server ended.
---@param params swictation.StateChangedParams
function M.on_state_changed(_, params)
  if not params then
    return
  end
  status.set(params.state, { reason = params.reason, session_id = params.sessionId })
  local session = M.session
  if params.state == "error" and params.reason then
    log.error(params.reason)
  end
  if
    session
    and session.phase == "listening"
    and (params.sessionId == nil or params.sessionId == session.id)
    and (params.state == "error" or (params.state == "idle" and params.reason == "auto-stop"))
  then
    -- The server ended the session (silence, maximum length, device lost): it keeps the text
    -- until stopDictation collects it.
    M.stop()
  end
end

--- The server exited: forget the session and release its target.
function M.on_server_exit()
  local session = M.session
  M.session = nil
  if session and session.target then
    marks.release(session.target)
  end
end

return M
