---@mod swictation.marks Where text goes, tracked with extmarks
---
--- A target is where an utterance began, taken when the command runs (the cursor, or a visual
--- selection to replace) and tracked with an extmark while the user moves or types. Interim text
--- is inline virtual text at that extmark; the final text is applied there with
--- vim.lsp.util.apply_text_edits as one undo block. Inserted utterances keep an extmark spanning
--- their text, so refine, undo and retranscribe find it after edits around it. A per-phrase
--- dictation applies each phrase the same way and then moves its target after the phrase, where
--- the next one (and the interim text of the open phrase) goes. In a terminal buffer the text is
--- sent to the terminal's job instead (chansend). (The VS Code client's counterpart is
--- src/positionTracker.ts.)

local config = require("swictation.config")
local context = require("swictation.context")
local log = require("swictation.log")

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
---@field append boolean? the target is after the character the cursor was on (Normal mode, like `a`)
---@field server_shown integer? `log.server_shown` when the target was taken
---@field terminal boolean? a terminal buffer: the text goes to its job (chansend)
---@field scratch_told boolean? terminal: the user was told "scratch that" is not supported there
---@field row integer? terminal: the 0-based row of the command line when the target was taken
---@field col integer? terminal: the byte column of the cursor on it

local line_text = context.line_text
local lsp_position = context.lsp_position

-- Targets ---------------------------------------------------------------------------------------

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

--- The utterance inserted last (by `M.track`), which a Normal-mode dictation continues after.
local last_inserted

--- The character before byte column `col` of line `row` (its bytes), or "".
local function char_before(bufnr, row, col)
  local text = line_text(bufnr, row):sub(1, col)
  return vim.fn.strcharpart(text, vim.fn.strchars(text) - 1)
end

--- Whether the cursor, in Normal mode, sits on the last character of the utterance inserted last
--- in `bufnr` (where `M.apply` leaves it, as after `i…<Esc>`): the next dictation then continues
--- after that text, like `a`, so two dictations in a row read in order.
local function on_last_utterance_end(bufnr, row, col)
  if vim.api.nvim_get_mode().mode ~= "n" then
    return false
  end
  local u = last_inserted and M.tracked(last_inserted)
  if not u or u.bufnr ~= bufnr or u.erow ~= row or u.ecol == 0 then
    return false
  end
  return col == u.ecol - #char_before(bufnr, row, u.ecol)
end

--- A terminal buffer's target: the text goes to its job. The command line is the cursor's line
--- in Terminal mode (where the job's cursor is), else the last line with text. A terminal line
--- has no trailing blanks, so the column may be past its end: the cursor is after a blank then
--- (outside Terminal mode: when the line ends with a prompt character, `$ `, `# `, `> `, `% `).
---@return swictation.Target
local function capture_terminal(bufnr, win)
  local row, col
  if vim.api.nvim_get_mode().mode == "t" and vim.api.nvim_win_get_buf(win) == bufnr then
    local cursor = vim.api.nvim_win_get_cursor(win)
    row, col = cursor[1] - 1, cursor[2]
    -- The job's cursor may be past the line's end (blanks typed last): the screen column tells.
    local line = line_text(bufnr, row)
    if col >= #line and win == vim.api.nvim_get_current_win() then
      local info = vim.fn.getwininfo(win)[1]
      local screen_col = vim.fn.wincol() - 1 - (info and info.textoff or 0)
      col = #line + math.max(0, screen_col - vim.fn.strdisplaywidth(line))
    end
  else
    row = vim.api.nvim_buf_line_count(bufnr) - 1
    while row > 0 and line_text(bufnr, row):match("^%s*$") do
      row = row - 1
    end
    -- Blanks the job wrote after the text (typed by the user) are kept: the cursor is after
    -- them. A line the terminal trimmed that ends with a prompt character had its blank too.
    local line = line_text(bufnr, row)
    col = #line + ((line:match("[%$#>%%❯»]$") and 1) or 0)
  end
  -- For the interim text only: the job rewrites the buffer, so the mark may not last.
  local at = math.min(col, #line_text(bufnr, row))
  local ok, mark = pcall(vim.api.nvim_buf_set_extmark, bufnr, M.ns, row, at, { right_gravity = false })
  ---@type swictation.Target
  return {
    bufnr = bufnr,
    win = win,
    mark = ok and mark or -1,
    uri = context.uri(bufnr),
    terminal = true,
    row = row,
    col = col,
    server_shown = log.server_shown,
  }
end

--- Where text goes, taken when the command runs: the cursor (in Normal mode, before the
--- character under it, like `i`; after it, like `a`, when it is the last character of the
--- utterance just inserted), or the visual selection. The LSP position is computed later
--- (`prepare`), when the client and its offset encoding are known.
---@param range? table command range (line1, line2, range)
---@return swictation.Target
function M.capture(range)
  local bufnr = vim.api.nvim_get_current_buf()
  local win = vim.api.nvim_get_current_win()
  if context.is_terminal(bufnr) then
    return capture_terminal(bufnr, win)
  end
  local sel = selection(range)
  local srow, scol, erow, ecol
  local appended = false
  if sel then
    srow, scol, erow, ecol = sel[1], sel[2], sel[3], sel[4]
  else
    local cursor = vim.api.nvim_win_get_cursor(win)
    srow, scol = cursor[1] - 1, math.min(cursor[2], #line_text(bufnr, cursor[1] - 1))
    if on_last_utterance_end(bufnr, srow, scol) then
      scol = scol + #vim.fn.strcharpart(line_text(bufnr, srow):sub(scol + 1), 0, 1)
      appended = true
    end
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
    uri = context.uri(bufnr),
    append = appended,
    server_shown = log.server_shown,
  }
end

--- Fix the target's LSP position (in `encoding`) where its extmark is now; returns the context.
---@param target swictation.Target
---@param encoding string
---@return swictation.TextContext? context, nil when the buffer or the mark is gone
function M.prepare(target, encoding)
  if not vim.api.nvim_buf_is_valid(target.bufnr) then
    return nil
  end
  target.encoding = encoding
  if target.terminal then
    target.position = lsp_position(target.bufnr, target.row, target.col, encoding)
    return context.build(target.bufnr, target.row, target.col, target.row, target.col)
  end
  local m = vim.api.nvim_buf_get_extmark_by_id(target.bufnr, M.ns, target.mark, { details = true })
  if not m[1] then
    return nil
  end
  local erow, ecol = m[1], m[2]
  if m[3] and m[3].end_row then
    erow, ecol = m[3].end_row, m[3].end_col
  end
  target.position = lsp_position(target.bufnr, m[1], m[2], encoding)
  return context.build(target.bufnr, m[1], m[2], erow, ecol)
end

--- Forget a target: its extmark and its interim text.
---@param target swictation.Target?
function M.release(target)
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
  local ok, id = pcall(vim.api.nvim_buf_set_extmark, target.bufnr, M.ns, pos[1], pos[2], {
    id = target.interim,
    virt_text = { { text, config.options.interim.hl_group } },
    virt_text_pos = "inline",
    right_gravity = false,
  })
  target.interim = ok and id or nil
end

-- Inserted utterances ---------------------------------------------------------------------------

--- Inserted utterances by id: where their text is now (an extmark spanning it) and what it was.
---@type table<string, {bufnr: integer, mark: integer, text: string}>
M.utterances = {}
local utterance_order = {}
local MAX_TRACKED = 200

--- Track utterance `id`, whose `text` was inserted at byte position (srow, scol) of `bufnr`.
---@param id string?
---@param bufnr integer
---@param srow integer
---@param scol integer
---@param text string
function M.track(id, bufnr, srow, scol, text)
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
  last_inserted = id
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

--- Where a tracked utterance is now, or nil. An extmark is trusted only while the text under it
--- is exactly the utterance's text: after `:e!`, `:bwipeout` + `:e`, or `u` plus typing at that
--- spot it is not, and nil is returned (the server's checked range is used instead, or nothing).
---@param id string?
---@return {bufnr: integer, srow: integer, scol: integer, erow: integer, ecol: integer, text: string}?
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
  if srow > erow or (srow == erow and scol > ecol) then
    return nil
  end
  local ok, text = pcall(vim.api.nvim_buf_get_text, u.bufnr, srow, scol, erow, ecol, {})
  if not ok or table.concat(text, "\n") ~= u.text then
    return nil
  end
  return { bufnr = u.bufnr, srow = srow, scol = scol, erow = erow, ecol = ecol, text = u.text }
end

--- Stop tracking utterance `id`.
---@param id string?
function M.forget(id)
  local u = id and M.utterances[id]
  if u then
    if vim.api.nvim_buf_is_valid(u.bufnr) then
      pcall(vim.api.nvim_buf_del_extmark, u.bufnr, M.ns, u.mark)
    end
    M.utterances[id] = nil
  end
end

-- Edits -----------------------------------------------------------------------------------------

--- Shift a position the server computed for `from` to where that spot is now (`to`).
local function shift(pos, from, to)
  if pos.line == from.line and pos.character >= from.character then
    return { line = to.line, character = pos.character - from.character + to.character }
  elseif pos.line > from.line then
    return { line = pos.line + to.line - from.line, character = pos.character }
  end
  return { line = pos.line, character = pos.character }
end

--- Tell the server whether a "scratch that" deletion it proposed is in the buffer.
local function confirm_scratch(id, applied, why)
  require("swictation.client").request(require("swictation.protocol").UTTERANCE_EDIT_APPLIED, {
    utteranceId = id,
    kind = "undo",
    applied = applied,
    failureReason = why,
  }, function() end)
end

--- Whether edit `e` changes nothing (inserts "" at a point).
local function no_op(e)
  local a, b = e.range.start, e.range["end"]
  return e.newText == "" and a.line == b.line and a.character == b.character
end

--- Whether a result puts nothing in the document: no text and no edit that changes anything.
---@param result swictation.TranscribeResult
function M.inserts_nothing(result)
  if (result.text or "") ~= "" then
    return false
  end
  for _, e in ipairs(result.edits or {}) do
    if not no_op(e) then
      return false
    end
  end
  return true
end

--- Whether edit `e` starts at LSP position `pos`.
local function starts_at(e, pos)
  return e.range.start.line == pos.line and e.range.start.character == pos.character
end

--- Where the server put the text of a per-phrase result: `target.position` (the end of the phrase
--- before, as this client counted it) or, when the server placed its one edit elsewhere (it
--- followed the document's changes itself), that edit's start.
local function phrase_origin(target, result)
  local from, edits = target.position, result.edits or {}
  for _, e in ipairs(edits) do
    if starts_at(e, from) then
      return from
    end
  end
  if #edits == 1 and type(result.scratchedUtteranceId) ~= "string" then
    return edits[1].range.start
  end
  return from
end

--- What a "scratch that" (or an undo) in a terminal gets: one sentence.
M.TERMINAL_SCRATCH =
  "'scratch that' and undo are not supported in a terminal: text sent to its job cannot be taken back (delete it there yourself)"

--- Send a result's text to a terminal's job (chansend): the edit at the target (with the spacing
--- the server chose), else the text. Line breaks go as Enter ("\r"), so a spoken "press enter"
--- runs the line. Nothing can be taken back from a job: a "scratch that" deletion is refused.
---@param target swictation.Target
---@param result swictation.TranscribeResult
---@param opts {advance?: boolean}
---@return boolean sent
---@return string? text what was sent
local function send_to_terminal(target, result, opts)
  local bufnr = target.bufnr
  if target.interim then
    pcall(vim.api.nvim_buf_del_extmark, bufnr, M.ns, target.interim)
    target.interim = nil
  end
  if type(result.correctUtteranceId) == "string" then
    return false -- a spoken "correct that": the alternatives open instead (dictation.lua)
  end
  local from = opts.advance and phrase_origin(target, result) or target.position
  local text
  for _, e in ipairs(result.edits or {}) do
    if starts_at(e, from) then
      text = e.newText
    end
  end
  text = text or result.text or ""
  if type(result.scratchedUtteranceId) == "string" then
    if not target.scratch_told then
      target.scratch_told = true
      log.warn(M.TERMINAL_SCRATCH)
    end
    confirm_scratch(result.scratchedUtteranceId, false, "text sent to a terminal cannot be taken back")
  end
  if text == "" then
    if log.server_shown == target.server_shown then
      log.info("no speech recognised")
    end
    return false
  end
  local job = vim.b[bufnr].terminal_job_id
  local ok, sent = false, 0
  if job then
    ok, sent = pcall(vim.fn.chansend, job, (text:gsub("\r?\n", "\r")))
  end
  if not ok or sent == 0 then
    log.warn("the terminal's job does not take input any more; the text is in :SwictationHistory")
    return false
  end
  if opts.advance and target.encoding then
    target.position = context.position_after(from, text, target.encoding)
  end
  return true, text
end

--- The next phrase of the session goes after `text`, inserted at byte position (row, col): the
--- target (a zero-width extmark, before what is typed at that spot) moves there, and the server's
--- position for it is `from` (where the server put `text`) moved past it.
local function advance(target, row, col, text, from)
  local lines = vim.split(text, "\n", { plain = true })
  local erow = row + #lines - 1
  local ecol = (#lines == 1 and col or 0) + #lines[#lines]
  pcall(vim.api.nvim_buf_del_extmark, target.bufnr, M.ns, target.mark)
  target.mark = vim.api.nvim_buf_set_extmark(target.bufnr, M.ns, erow, ecol, { right_gravity = false })
  target.position = context.position_after(from, text, target.encoding)
  -- A cursor left on the phrase's last character (Normal mode) still counts as at the target.
  target.append = true
end

--- The text the server applied itself (workspace/applyEdit) right after the target: where it
--- starts, or nil when it is not there (within a few characters of spacing).
local function server_applied_at(bufnr, row, col, text)
  local lines = vim.split(text, "\n", { plain = true })
  local span = vim.api.nvim_buf_get_lines(bufnr, row, row + #lines + 1, false)
  local after = table.concat(span, "\n"):sub(col + 1)
  local at = after:find(text, 1, true)
  if not at or at > 4 then
    return nil
  end
  local before = vim.split(after:sub(1, at - 1), "\n", { plain = true })
  return row + #before - 1, (#before == 1 and col or 0) + #before[#before]
end

--- Apply the server's edits at the target, as one undo block, and track the inserted utterance.
--- With `opts.advance` (a phrase of a per-phrase dictation) the target then moves after the text.
--- In a terminal buffer the text is sent to the job instead.
---@param target swictation.Target
---@param result swictation.TranscribeResult
---@param opts? {advance?: boolean}
---@return boolean applied
---@return string? text what went in (for the announcement)
function M.apply(target, result, opts)
  opts = opts or {}
  local bufnr = target.bufnr
  if not vim.api.nvim_buf_is_valid(bufnr) then
    log.warn("the buffer was closed; the text is in :SwictationHistory")
    return false
  end
  if target.terminal then
    return send_to_terminal(target, result, opts)
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
  local enc = target.encoding
  local from = opts.advance and phrase_origin(target, result) or target.position
  local to = lsp_position(bufnr, mark[1], mark[2], enc)
  if result.appliedByServer == true then
    -- applyEdits "server": the text is in the buffer already (workspace/applyEdit); only the
    -- target of the next phrase moves past it.
    local text = result.text or ""
    if opts.advance and text ~= "" then
      local row, col = server_applied_at(bufnr, mark[1], mark[2], text)
      if row then
        advance(target, row, col, text, from)
      end
    end
    return text ~= "", text
  end
  local details = mark[3] or {}
  local sel_end = details.end_row
      and not (details.end_row == mark[1] and details.end_col == mark[2])
      and lsp_position(bufnr, details.end_row, details.end_col, enc)
    or nil

  -- "scratch that": the deletion of the earlier utterance is in the coordinates of the version
  -- the server checked it at (result.version) and holds only there; at any other version the
  -- text goes in at the cursor alone and the server is told the undo was not applied.
  local scratched = type(result.scratchedUtteranceId) == "string" and result.scratchedUtteranceId or nil
  local checked_at = scratched and type(result.version) == "number" and result.version or nil
  local scratch_kept = scratched ~= nil
  if checked_at then
    local c = require("swictation.client").get()
    scratch_kept = c ~= nil and require("swictation.sync").version(c, bufnr) == checked_at
  end

  local edits = {}
  local primary
  for _, edit in ipairs(result.edits or {}) do
    local at_cursor = starts_at(edit, from)
    local e
    if no_op(edit) then
      e = nil
    elseif at_cursor or not checked_at then
      e = {
        range = { start = shift(edit.range.start, from, to), ["end"] = shift(edit.range["end"], from, to) },
        newText = edit.newText,
      }
    elseif scratch_kept then
      e = { range = edit.range, newText = edit.newText } -- already in the buffer's coordinates
    end
    if e and not primary and at_cursor then
      primary = e
    end
    edits[#edits + 1] = e
  end
  if scratched and not scratch_kept then
    log.warn("the buffer changed while Swictation was checking, so 'scratch that' left the earlier utterance as it is")
  end
  if #edits == 0 then
    if type(result.correctUtteranceId) == "string" then
      return false -- a spoken "correct that": the alternatives open instead (dictation.lua)
    elseif (result.text or "") == "" then
      -- Nothing was said (a selection stays as it is), unless the server already told the user
      -- why nothing changed (a "scratch that" with nothing to remove, or refused).
      if log.server_shown == target.server_shown then
        log.info("no speech recognised")
      end
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
    local at_start = cur[1] - 1 == mark[1]
      and (cur[2] == mark[2] or target.append and cur[2] == mark[2] - #char_before(bufnr, mark[1], mark[2]))
    local in_sel = sel_end and (cur[1] - 1 >= mark[1] and cur[1] - 1 <= details.end_row)
    move_cursor = at_start or in_sel or false
  end

  local ok, err = pcall(vim.api.nvim_buf_call, bufnr, function()
    vim.cmd("let &g:undolevels = &g:undolevels")
    vim.lsp.util.apply_text_edits(edits, bufnr, enc)
    vim.cmd("let &g:undolevels = &g:undolevels")
  end)
  if scratched then
    local why = not scratch_kept and "the buffer changed after the server checked the deletion"
      or not ok and tostring(err)
      or nil
    confirm_scratch(scratched, ok and scratch_kept, why)
  end
  if not ok then
    log.warn("the text could not be inserted (" .. tostring(err) .. "); it is in :SwictationHistory")
    return false
  end

  local start = vim.api.nvim_buf_get_extmark_by_id(bufnr, M.ns, target.mark, {})
  if primary and start[1] then
    M.track(result.utteranceId, bufnr, start[1], start[2], primary.newText)
    if opts.advance then
      advance(target, start[1], start[2], primary.newText, from)
    end
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
  return true, primary and primary.newText or result.text
end

return M
