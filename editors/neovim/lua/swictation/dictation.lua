---@mod swictation.dictation The dictation session and file transcription
---
--- One session at a time: start (with the target and its context), stop (the final text is
--- applied at the target), cancel, and the server's notifications about it (partial text, state,
--- refined text, phrases). With the server setting `dictation.commit = "perPhrase"` each phrase a
--- pause closes arrives as swictation/phraseCommitted while listening goes on and is applied
--- like a stop result (its own utterance and undo step), the target moving after it; stop then
--- brings only the phrase still open, and cancel drops only that one. Where text goes is
--- marks.lua; what the server is told about it, context.lua. (The VS Code client's counterpart
--- is src/dictation.ts.)

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
---@field commit "onStop"|"perPhrase" what the server does with this session's phrases
---@field phrases integer phrases inserted while listening (perPhrase)
---@field after_stop fun()[]? called once the stop is answered (the text applied), e.g. restart

---@type swictation.Session?
M.session = nil

--- Sessions cancelled whose cancelDictation has not been answered yet, by id: a phrase the server
--- committed before it saw the cancel still goes in (it is in the history already).
---@type table<string, swictation.Session>
local closing = {}

--- The server's own message about a "scratch that" while dictating into a terminal names the
--- terminal as a document: one clear sentence instead (once per session).
log.server_filter = function(msg)
  local target = M.session and M.session.target
  if target and target.terminal and msg:find("'scratch that'", 1, true) then
    if target.scratch_told then
      return ""
    end
    target.scratch_told = true
    return marks.TERMINAL_SCRATCH, vim.log.levels.WARN
  end
end

--- The language the last utterance was recognised in (what the server said), for :SwictationStatus.
M.last_language = nil

--- Fire `User SwictationDone` when a transcription or dictation ended (data: what happened).
local function done(data)
  if type(data.language) == "string" then
    M.last_language = data.language
  end
  vim.api.nvim_exec_autocmds("User", { pattern = "SwictationDone", modeline = false, data = data })
end

--- Say what went in (`signals.announce`): sent to a terminal, or inserted.
local function announce(target, text)
  log.announce(text, target and target.terminal and "to the terminal" or nil)
end

--- Report a failure and forget the target.
--- A spoken "correct that" inserted nothing: open the alternatives of the utterance it names.
local function correct_if_asked(result)
  if type(result.correctUtteranceId) == "string" then
    require("swictation.utterances").correct(result.correctUtteranceId)
  end
end

--- Run (once) what waits for the session's stop.
---@param session swictation.Session
local function run_after_stop(session)
  local after = session.after_stop or {}
  session.after_stop = nil
  for _, f in ipairs(after) do
    f()
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
    local applied, inserted = marks.apply(target, result)
    marks.release(target)
    if applied then
      announce(target, inserted)
    end
    correct_if_asked(result)
    log.debug(("transcribed %s (%s, %s): %q"):format(path, result.mode, result.model, result.text))
    done({
      action = "transcribe",
      ok = true,
      applied = applied,
      text = result.text,
      utterance_id = result.utteranceId,
      language = result.language,
    })
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
  local session = { phase = "starting", target = target, commit = "onStop", phrases = 0 }
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
      run_after_stop(session)
      return
    end
    session.id = result.sessionId
    session.commit = result.commit == "perPhrase" and "perPhrase" or "onStop"
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

--- Stop listening; the text is applied at the target. `after` (optional) runs once the stop is
--- answered and the text applied (or the stop failed).
---@param after? fun()
function M.stop(after)
  local session = M.session
  if not session then
    log.warn("not dictating; :SwictationStart starts")
    if after then
      after()
    end
    return
  end
  if after then
    session.after_stop = session.after_stop or {}
    table.insert(session.after_stop, after)
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
      run_after_stop(session)
      return
    end
    local applied, inserted = false, nil
    if not (session.phrases > 0 and marks.inserts_nothing(result)) then
      -- The tail (perPhrase: the phrase still open), or the whole text (onStop). An empty tail
      -- after phrases went in is no "no speech recognised".
      applied, inserted = marks.apply(session.target, result, { advance = session.commit == "perPhrase" })
    end
    marks.release(session.target)
    if applied then
      announce(session.target, inserted)
    end
    correct_if_asked(result)
    done({
      action = "dictation",
      ok = true,
      applied = applied or session.phrases > 0,
      text = result.text,
      utterance_id = result.utteranceId,
      language = result.language,
      commit = session.commit,
      phrases = session.phrases,
    })
    run_after_stop(session)
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
  marks.show_interim(session.target, "")
  if session.id then
    closing[session.id] = session
  end
  client.request(protocol.CANCEL_DICTATION, { sessionId = session.id }, function(err)
    -- Every phrase the server committed came before this answer: the target is no longer needed.
    if session.id and closing[session.id] == session then
      closing[session.id] = nil
    end
    marks.release(session.target)
    if err then
      log.rpc_error("Cancel dictation", err)
    end
  end)
end

--- The session a notification names: the active one (also while it starts, before its id is
--- known), or one being cancelled.
---@return swictation.Session?
local function session_of(id)
  local session = M.session
  if session and (id == nil or id == vim.NIL or session.id == nil or session.id == id) then
    return session
  end
  return type(id) == "string" and closing[id] or nil
end

--- swictation/phraseCommitted (`dictation.commit = "perPhrase"`): a phrase a pause closed while
--- listening goes on. It is in the server's history already; it is applied like a stop result
--- (tracked as its own utterance, one undo step), then the target moves after it. Fires
--- `User SwictationPhrase` (data: session_id, ok, text, utterance_id).
---@param params swictation.PhraseCommittedParams
function M.on_phrase_committed(_, params)
  if type(params) ~= "table" or type(params.result) ~= "table" then
    return
  end
  local session = session_of(params.sessionId)
  local result = params.result
  local applied = false
  if not session or not session.target then
    log.warn(
      ("a phrase arrived for no dictation Neovim knows; it is in :SwictationHistory: %q"):format(tostring(result.text))
    )
  else
    local inserted
    applied, inserted = marks.apply(session.target, result, { advance = true })
    if applied then
      session.phrases = (session.phrases or 0) + 1
      announce(session.target, inserted)
    end
    correct_if_asked(result)
  end
  vim.api.nvim_exec_autocmds("User", {
    pattern = "SwictationPhrase",
    modeline = false,
    data = {
      session_id = params.sessionId,
      ok = applied,
      text = result.text,
      utterance_id = result.utteranceId,
    },
  })
end

--- swictation/partial: interim text of the session so far (perPhrase: of the phrase still open,
--- shown after the phrases already in).
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
  if session then
    run_after_stop(session)
  end
  for id, s in pairs(closing) do
    marks.release(s.target)
    closing[id] = nil
  end
end

return M
