---@mod swictation.dictation Dictation and file transcription into a buffer
---
--- Where an utterance began is tracked with an extmark (the user may move or type meanwhile);
--- the final text is applied there with vim.lsp.util.apply_text_edits as one undo block. A visual
--- selection taken at the start is replaced. Interim text (swictation/partial) is inline virtual
--- text at that extmark until the final text replaces it.

local client = require("swictation.client")
local config = require("swictation.config")
local log = require("swictation.log")
local status = require("swictation.status")

local protocol = require("swictation.protocol")
local M = {}

M.ns = vim.api.nvim_create_namespace("swictation")

---@class swictation.Target
---@field bufnr integer
---@field win integer
---@field mark integer extmark id at the start (with an end when a selection is replaced)
---@field position lsp.Position where the server was told the text goes
---@field encoding string offset encoding `position` is in
---@field uri string
---@field interim integer? extmark id of the interim virtual text

---@class swictation.Session
---@field target swictation.Target
---@field phase "starting"|"listening"|"stopping"
---@field id string? session id from the server
---@field stop_requested boolean? stop asked while starting
---@field cancel_requested boolean? cancel asked while starting

---@type swictation.Session?
M.session = nil

--- uri -> bufnr for buffers we sent (unnamed buffers get an untitled: uri).
local uris = {}

--- Inserted utterances by id: where their text is now (an extmark spanning it) and what it was.
---@type table<string, {bufnr: integer, mark: integer, text: string}>
M.utterances = {}
local utterance_order = {}
local MAX_TRACKED = 200

local function track(id, bufnr, srow, scol, text)
  if not id then
    return
  end
  local lines = vim.split(text, "\n", { plain = true })
  local erow = srow + #lines - 1
  local ecol = (#lines == 1 and scol or 0) + #lines[#lines]
  local ok, mark = pcall(vim.api.nvim_buf_set_extmark, bufnr, M.ns, srow, scol, {
    end_row = erow,
    end_col = ecol,
    right_gravity = true,
    end_right_gravity = false,
  })
  if not ok then
    return
  end
  M.utterances[id] = { bufnr = bufnr, mark = mark, text = text }
  utterance_order[#utterance_order + 1] = id
  if #utterance_order > MAX_TRACKED then
    local old = table.remove(utterance_order, 1)
    local u = M.utterances[old]
    if u and vim.api.nvim_buf_is_valid(u.bufnr) then
      pcall(vim.api.nvim_buf_del_extmark, u.bufnr, M.ns, u.mark)
    end
    M.utterances[old] = nil
  end
end

--- The current byte range and text of a tracked utterance, or nil.
---@return {bufnr: integer, srow: integer, scol: integer, erow: integer, ecol: integer, text: string, original: string}?
function M.tracked(id)
  local u = id and M.utterances[id]
  if not u or not vim.api.nvim_buf_is_valid(u.bufnr) then
    return nil
  end
  local m = vim.api.nvim_buf_get_extmark_by_id(u.bufnr, M.ns, u.mark, { details = true })
  if not m[1] or not m[3] or not m[3].end_row then
    return nil
  end
  local srow, scol, erow, ecol = m[1], m[2], m[3].end_row, m[3].end_col
  local ok, text = pcall(vim.api.nvim_buf_get_text, u.bufnr, srow, scol, erow, ecol, {})
  return {
    bufnr = u.bufnr,
    srow = srow,
    scol = scol,
    erow = erow,
    ecol = ecol,
    text = ok and table.concat(text, "\n") or "",
    original = u.text,
  }
end

function M.forget(id)
  local u = id and M.utterances[id]
  if u then
    if vim.api.nvim_buf_is_valid(u.bufnr) then
      pcall(vim.api.nvim_buf_del_extmark, u.bufnr, M.ns, u.mark)
    end
    M.utterances[id] = nil
  end
end

--- Replace byte range [s, e) of `bufnr` with `text`, as one undo block.
function M.replace_range(bufnr, srow, scol, erow, ecol, text)
  vim.api.nvim_buf_call(bufnr, function()
    vim.cmd("let &g:undolevels = &g:undolevels")
    vim.api.nvim_buf_set_text(bufnr, srow, scol, erow, ecol, vim.split(text, "\n", { plain = true }))
    vim.cmd("let &g:undolevels = &g:undolevels")
  end)
end

--- Fire `User SwictationDone` when a transcription or dictation ended (data: what happened).
local function done(data)
  vim.api.nvim_exec_autocmds("User", { pattern = "SwictationDone", modeline = false, data = data })
end

---@param bufnr integer
---@return string
function M.uri(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  local uri = name ~= "" and vim.uri_from_bufnr(bufnr) or ("untitled:Untitled-%d"):format(bufnr)
  uris[uri] = bufnr
  return uri
end

---@return integer?
local function bufnr_of(uri)
  local b = uris[uri]
  if b and vim.api.nvim_buf_is_valid(b) then
    return b
  end
  if uri:match("^file:") then
    local n = vim.fn.bufnr(vim.uri_to_fname(uri))
    if n ~= -1 then
      return n
    end
  end
end

local function line_text(bufnr, row)
  return vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
end

--- LSP position of byte position (row, col) in `encoding`.
local function lsp_position(bufnr, row, col, encoding)
  local text = line_text(bufnr, row)
  col = math.min(col, #text)
  local character
  if vim.fn.has("nvim-0.11") == 1 then
    character = vim.str_utfindex(text, encoding, col, false)
  elseif encoding == "utf-8" then
    character = col
  else
    local utf32, utf16 = vim.str_utfindex(text, col)
    character = encoding == "utf-16" and utf16 or utf32
  end
  return { line = row, character = character }
end

--- Last/first `n` characters of `s`.
local function tail_chars(s, n)
  local len = vim.fn.strchars(s)
  return len <= n and s or vim.fn.strcharpart(s, len - n)
end
local function head_chars(s, n)
  return vim.fn.strchars(s) <= n and s or vim.fn.strcharpart(s, 0, n)
end

local ident_cache = {}

--- Identifiers worth biasing toward: multi-part names (camelCase, PascalCase, snake_case).
local function identifiers(bufnr, row, max)
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local cached = ident_cache[bufnr]
  if cached and cached.tick == tick then
    return cached.list
  end
  local count = vim.api.nvim_buf_line_count(bufnr)
  local first, last = math.max(0, row - 2000), math.min(count, row + 2000)
  local seen, order = {}, {}
  for _, line in ipairs(vim.api.nvim_buf_get_lines(bufnr, first, last, false)) do
    if #line < 2000 then
      for word in line:gmatch("[%a_][%w_]*") do
        if #word >= 3 and #word <= 64 and (word:find("%l%u") or word:find("%w_%w")) then
          if not seen[word] then
            order[#order + 1] = word
            seen[word] = 0
          end
          seen[word] = seen[word] + 1
        end
      end
    end
  end
  table.sort(order, function(a, b)
    if seen[a] ~= seen[b] then
      return seen[a] > seen[b]
    end
    return a < b
  end)
  local list = vim.list_slice(order, 1, max)
  ident_cache[bufnr] = { tick = tick, list = list }
  return list
end

--- TextContext for the server: text before the start and after the end, languageId, identifiers.
---@return table
function M.context(bufnr, srow, scol, erow, ecol)
  local opts = config.options.context
  local n = opts.chars
  local lines_back = math.max(1, math.ceil(n / 20))
  local before_lines = vim.api.nvim_buf_get_lines(bufnr, math.max(0, srow - lines_back), srow + 1, false)
  before_lines[#before_lines] = (before_lines[#before_lines] or ""):sub(1, scol)
  local after_lines = vim.api.nvim_buf_get_lines(bufnr, erow, erow + lines_back, false)
  after_lines[1] = (after_lines[1] or ""):sub(ecol + 1)
  local ctx = {
    before = tail_chars(table.concat(before_lines, "\n"), n),
    after = head_chars(table.concat(after_lines, "\n"), n),
  }
  local ft = vim.bo[bufnr].filetype
  if ft ~= "" then
    ctx.languageId = ft
  end
  if opts.identifiers then
    local ids = identifiers(bufnr, srow, opts.max_identifiers)
    if #ids > 0 then
      ctx.identifiers = ids
    end
  end
  return ctx
end

--- The visual selection as a byte range {srow, scol, erow, ecol} (end exclusive), or nil.
---@param range? {line1: integer, line2: integer, range: integer} from a :command
local function selection(range)
  local mode = vim.api.nvim_get_mode().mode
  local vmode, p1, p2
  if mode:match("^[vV\22]") then
    vmode = mode:sub(1, 1)
    p1, p2 = vim.fn.getpos("v"), vim.fn.getpos(".")
    vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes("<Esc>", true, false, true), "nx", false)
  elseif range and range.range == 2 then
    local s, e = vim.fn.getpos("'<"), vim.fn.getpos("'>")
    if s[2] ~= range.line1 or e[2] ~= range.line2 then
      -- A typed line range: replace those lines.
      vmode, p1, p2 = "V", { 0, range.line1, 1, 0 }, { 0, range.line2, 1, 0 }
    else
      vmode, p1, p2 = vim.fn.visualmode(), s, e
    end
  else
    return nil
  end
  if p1[2] > p2[2] or (p1[2] == p2[2] and p1[3] > p2[3]) then
    p1, p2 = p2, p1
  end
  local bufnr = vim.api.nvim_get_current_buf()
  local srow, erow = p1[2] - 1, p2[2] - 1
  if vmode == "V" then
    return { srow, 0, erow, #line_text(bufnr, erow) }
  end
  local scol = math.min(p1[3] - 1, #line_text(bufnr, srow))
  local eline = line_text(bufnr, erow)
  local ecol = math.min(p2[3] - 1, #eline)
  if ecol < #eline then
    -- Inclusive end: include the whole (possibly multibyte) character under it.
    ecol = ecol + #vim.fn.strcharpart(eline:sub(ecol + 1), 0, 1)
  end
  return { srow, scol, erow, ecol }
end

--- Where text goes, taken when the command runs: the cursor (in Normal mode, before the
--- character under it, like `i`), or the visual selection. The LSP position is computed later
--- (`prepare`), when the client and its offset encoding are known.
---@param range? table command range (line1, line2, range)
---@return swictation.Target
local function capture(range)
  local bufnr = vim.api.nvim_get_current_buf()
  local win = vim.api.nvim_get_current_win()
  local sel = selection(range)
  local srow, scol, erow, ecol
  if sel then
    srow, scol, erow, ecol = sel[1], sel[2], sel[3], sel[4]
  else
    local cursor = vim.api.nvim_win_get_cursor(win)
    srow, scol = cursor[1] - 1, math.min(cursor[2], #line_text(bufnr, cursor[1] - 1))
    erow, ecol = srow, scol
  end
  local mark_opts = { right_gravity = false }
  if sel then
    mark_opts.end_row, mark_opts.end_col = erow, ecol
    mark_opts.end_right_gravity = false
    mark_opts.hl_group = "SwictationSelection"
  end
  local mark = vim.api.nvim_buf_set_extmark(bufnr, M.ns, srow, scol, mark_opts)
  ---@type swictation.Target
  return {
    bufnr = bufnr,
    win = win,
    mark = mark,
    uri = M.uri(bufnr),
  }
end

--- Fix the target's LSP position (in `encoding`) where its extmark is now; returns the context.
---@param target swictation.Target
---@param encoding string
---@return table? context, nil when the buffer or the mark is gone
local function prepare(target, encoding)
  if not vim.api.nvim_buf_is_valid(target.bufnr) then
    return nil
  end
  local m = vim.api.nvim_buf_get_extmark_by_id(target.bufnr, M.ns, target.mark, { details = true })
  if not m[1] then
    return nil
  end
  local erow, ecol = m[1], m[2]
  if m[3] and m[3].end_row then
    erow, ecol = m[3].end_row, m[3].end_col
  end
  target.encoding = encoding
  target.position = lsp_position(target.bufnr, m[1], m[2], encoding)
  return M.context(target.bufnr, m[1], m[2], erow, ecol)
end

local function release(target)
  if target and vim.api.nvim_buf_is_valid(target.bufnr) then
    pcall(vim.api.nvim_buf_del_extmark, target.bufnr, M.ns, target.mark)
    if target.interim then
      pcall(vim.api.nvim_buf_del_extmark, target.bufnr, M.ns, target.interim)
    end
  end
end

--- Show `text` as inline virtual text where the target's text will go ("" clears it).
---@param target swictation.Target
---@param text string
function M.show_interim(target, text)
  if not vim.api.nvim_buf_is_valid(target.bufnr) then
    return
  end
  if text == "" or not config.options.interim.enabled then
    if target.interim then
      pcall(vim.api.nvim_buf_del_extmark, target.bufnr, M.ns, target.interim)
      target.interim = nil
    end
    return
  end
  local pos = vim.api.nvim_buf_get_extmark_by_id(target.bufnr, M.ns, target.mark, {})
  if not pos[1] then
    return
  end
  target.interim = vim.api.nvim_buf_set_extmark(target.bufnr, M.ns, pos[1], pos[2], {
    id = target.interim,
    virt_text = { { text, config.options.interim.hl_group } },
    virt_text_pos = "inline",
    right_gravity = false,
  })
end

--- Shift a position the server computed for `from` to where that spot is now (`to`).
local function shift(pos, from, to)
  if pos.line == from.line and pos.character >= from.character then
    return { line = to.line, character = pos.character - from.character + to.character }
  elseif pos.line > from.line then
    return { line = pos.line + to.line - from.line, character = pos.character }
  end
  return { line = pos.line, character = pos.character }
end

--- Apply the server's edits at the target, as one undo block; returns the inserted text.
---@param target swictation.Target
---@param result swictation.TranscribeResult
---@return boolean applied
function M.apply(target, result)
  local bufnr = target.bufnr
  if not vim.api.nvim_buf_is_valid(bufnr) then
    log.warn("the buffer was closed; the text is in :SwictationHistory")
    return false
  end
  local mark = vim.api.nvim_buf_get_extmark_by_id(bufnr, M.ns, target.mark, { details = true })
  if not mark[1] then
    log.warn("lost track of where the text goes; the text is in :SwictationHistory")
    return false
  end
  if target.interim then
    pcall(vim.api.nvim_buf_del_extmark, bufnr, M.ns, target.interim)
    target.interim = nil
  end
  local from, enc = target.position, target.encoding
  local to = lsp_position(bufnr, mark[1], mark[2], enc)
  local details = mark[3] or {}
  local sel_end = details.end_row
      and not (details.end_row == mark[1] and details.end_col == mark[2])
      and lsp_position(bufnr, details.end_row, details.end_col, enc)
    or nil

  local edits = {}
  local primary
  for _, edit in ipairs(result.edits or {}) do
    local e = {
      range = { start = shift(edit.range.start, from, to), ["end"] = shift(edit.range["end"], from, to) },
      newText = edit.newText,
    }
    if
      not primary
      and edit.range.start.line == from.line
      and edit.range.start.character == from.character
    then
      primary = e
    end
    edits[#edits + 1] = e
  end
  if #edits == 0 then
    if (result.text or "") == "" then
      -- Nothing was said (a selection stays as it is).
      log.info("no speech recognised")
      return false
    end
    primary = { range = { start = to, ["end"] = to }, newText = result.text }
    edits[1] = primary
  end
  if sel_end then
    if primary and primary.range["end"].line == to.line and primary.range["end"].character == to.character then
      primary.range["end"] = sel_end
    else
      table.insert(edits, 1, { range = { start = to, ["end"] = sel_end }, newText = "" })
    end
  end

  -- Move the cursor after the text only if it still sits where the text went.
  local win = target.win
  local move_cursor = vim.api.nvim_win_is_valid(win)
    and vim.api.nvim_win_get_buf(win) == bufnr
    and vim.api.nvim_get_current_win() == win
  if move_cursor then
    local cur = vim.api.nvim_win_get_cursor(win)
    local at_start = cur[1] - 1 == mark[1] and cur[2] == mark[2]
    local in_sel = sel_end and (cur[1] - 1 >= mark[1] and cur[1] - 1 <= details.end_row)
    move_cursor = at_start or in_sel or false
  end

  vim.api.nvim_buf_call(bufnr, function()
    vim.cmd("let &g:undolevels = &g:undolevels")
    vim.lsp.util.apply_text_edits(edits, bufnr, enc)
    vim.cmd("let &g:undolevels = &g:undolevels")
  end)

  local start = vim.api.nvim_buf_get_extmark_by_id(bufnr, M.ns, target.mark, {})
  if primary and start[1] then
    track(result.utteranceId, bufnr, start[1], start[2], primary.newText)
  end
  if move_cursor and primary then
    if start[1] then
      local lines = vim.split(primary.newText, "\n", { plain = true })
      local row = start[1] + #lines - 1
      local col = (#lines == 1 and start[2] or 0) + #lines[#lines]
      local insert = vim.api.nvim_get_mode().mode:sub(1, 1) == "i"
      if not insert and col > 0 then
        -- Normal mode: on the last inserted character, as after `i…<Esc>`.
        local text = line_text(bufnr, row):sub(1, col)
        col = col - #vim.fn.strcharpart(text, vim.fn.strchars(text) - 1)
      end
      pcall(vim.api.nvim_win_set_cursor, win, { row + 1, col })
    end
  end
  return true
end

--- Report a failure and forget the target.
local function fail(target, what, err, action)
  if target then
    release(target)
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
  local target = capture(opts.range)
  M.show_interim(target, "…")
  client.request(protocol.TRANSCRIBE, function(c) ---@return swictation.TranscribeParams?
    local context = prepare(target, c.offset_encoding)
    if not context then
      return nil
    end
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
    local applied = M.apply(target, result)
    release(target)
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
  local target = capture(opts.range)
  local session = { phase = "starting", target = target }
  M.session = session
  client.request(protocol.START_DICTATION, function(c) ---@return swictation.StartDictationParams?
    local context = prepare(target, c.offset_encoding)
    if not context then
      return nil
    end
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
    local applied = M.apply(session.target, result)
    release(session.target)
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
  release(session.target)
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
  M.show_interim(session.target, params.text or "")
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

--- swictation/refined: better text for an utterance already inserted.
---@param params swictation.RefinedParams
function M.on_refined(_, params)
  if not params or not params.edit then
    return
  end
  local t = M.tracked(params.utteranceId)
  if t then
    if t.text ~= t.original then
      log.debug(("not refining utterance %s: edited since"):format(tostring(params.utteranceId)))
      return
    end
    local text = params.edit.newText or params.text or ""
    M.replace_range(t.bufnr, t.srow, t.scol, t.erow, t.ecol, text)
    M.forget(params.utteranceId)
    track(params.utteranceId, t.bufnr, t.srow, t.scol, text)
  else
    local c = client.get()
    if not c or not M.apply_document_edits(params.uri or "", { params.edit }, c.offset_encoding) then
      return
    end
  end
  log.debug(("refined utterance %s: %q"):format(tostring(params.utteranceId), tostring(params.text)))
end

--- Apply edits the server computed for a document (undoUtterance, retranscribe).
---@return boolean applied
function M.apply_document_edits(uri, edits, encoding)
  local bufnr = bufnr_of(uri)
  if not bufnr then
    log.warn(("%s is not open"):format(uri))
    return false
  end
  if #edits == 0 then
    return false
  end
  vim.api.nvim_buf_call(bufnr, function()
    vim.cmd("let &g:undolevels = &g:undolevels")
    vim.lsp.util.apply_text_edits(edits, bufnr, encoding)
    vim.cmd("let &g:undolevels = &g:undolevels")
  end)
  return true
end

--- Insert `text` at the cursor (or over the selection), as dictated text would be.
function M.insert_text(text, range)
  local target = capture(range)
  prepare(target, "utf-8")
  M.apply(target, { text = text, edits = {} })
  release(target)
end

function M.on_server_exit()
  local session = M.session
  M.session = nil
  if session and session.target then
    release(session.target)
  end
end

--- Capture a target and prepare it for `encoding` (tests).
function M._capture(range, encoding)
  local target = capture(range)
  prepare(target, encoding)
  return target
end
M._lsp_position = lsp_position
M._bufnr_of = bufnr_of

return M
