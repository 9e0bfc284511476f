---@mod swictation.context What the server is told about the cursor
---
--- The document's uri, LSP positions in the client's offset encoding, and the TextContext sent
--- with each utterance: text before and after the cursor, the languageId, and identifiers from the
--- buffer to bias recognition toward. Reads buffers; sets no extmark and changes no text.
--- (The VS Code client's counterpart is src/context.ts.)

local config = require("swictation.config")

local M = {}

--- uri -> bufnr for buffers we sent (unnamed buffers get an untitled: uri).
---@type table<string, integer>
local uris = {}

--- The uri the server is told for `bufnr` (remembered, so edits for it find the buffer again).
---@param bufnr integer
---@return string
function M.uri(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  local uri = name ~= "" and vim.uri_from_bufnr(bufnr) or ("untitled:Untitled-%d"):format(bufnr)
  uris[uri] = bufnr
  return uri
end

--- The buffer a uri from the server names, or nil: the buffer whose uri is exactly `uri` now
--- (never a partial name match, never the current buffer by default).
---@param uri string
---@return integer?
function M.bufnr_of(uri)
  local b = uris[uri]
  if b and vim.api.nvim_buf_is_valid(b) then
    if vim.api.nvim_buf_get_name(b) == "" or vim.uri_from_bufnr(b) == uri then
      return b
    end
  end
  uris[uri] = nil
  if uri:match("^file:") then
    for _, n in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_get_name(n) ~= "" and vim.uri_from_bufnr(n) == uri then
        return n
      end
    end
  end
end

--- The loaded buffer a uri names, loading its file (in the background) if needed; nil when the
--- uri names no buffer and no readable file.
---@param uri string
---@return integer?
function M.load(uri)
  local b = M.bufnr_of(uri)
  if not b and uri:match("^file:") then
    local fname = vim.uri_to_fname(uri)
    if vim.fn.filereadable(fname) == 1 then
      b = vim.fn.bufadd(fname)
    end
  end
  if b and not vim.api.nvim_buf_is_loaded(b) then
    local ok = pcall(vim.fn.bufload, b)
    if not ok then
      return nil
    end
  end
  return b
end

--- Whether `bufnr` is a terminal buffer (`:terminal`): dictated text goes to its job
--- (chansend), not into the buffer, and what the server is told is shell code ("terminal").
---@param bufnr integer
---@return boolean
function M.is_terminal(bufnr)
  return vim.api.nvim_buf_is_valid(bufnr) and vim.bo[bufnr].buftype == "terminal"
end

--- Filetypes of commit-message buffers other plugins use, told to the server as "gitcommit".
local COMMIT_FILETYPES = { gitcommit = true, NeogitCommitMessage = true, jjdescription = true }

--- The languageId the server is told for `bufnr`: "terminal" for a terminal buffer (shell
--- code; a spoken "press enter" or "run that" gives a line break, which runs the line),
--- "gitcommit" for a commit message (prose: sentence case, no code casing), else 'filetype'
--- (nil when it has none).
---@param bufnr integer
---@return string?
function M.language_id(bufnr)
  if M.is_terminal(bufnr) then
    return "terminal"
  end
  local ft = vim.bo[bufnr].filetype
  if COMMIT_FILETYPES[ft] then
    return "gitcommit"
  end
  return ft ~= "" and ft or nil
end

--- The text of 0-based line `row` ("" past the end).
---@param bufnr integer
---@param row integer
---@return string
function M.line_text(bufnr, row)
  return vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
end

--- LSP position of byte position (row, col) in `encoding`.
---@param bufnr integer
---@param row integer
---@param col integer
---@param encoding string "utf-8"|"utf-16"|"utf-32"
---@return lsp.Position
function M.lsp_position(bufnr, row, col, encoding)
  local text = M.line_text(bufnr, row)
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

--- Length of `text` (one line) in `encoding` units.
---@param text string
---@param encoding string
---@return integer
local function units(text, encoding)
  if encoding == "utf-8" then
    return #text
  end
  if vim.fn.has("nvim-0.11") == 1 then
    return vim.str_utfindex(text, encoding, nil, false)
  end
  local utf32, utf16 = vim.str_utfindex(text)
  return encoding == "utf-16" and utf16 or utf32
end

--- The LSP position just after `text` inserted at `pos` (in `encoding`).
---@param pos lsp.Position
---@param text string
---@param encoding string
---@return lsp.Position
function M.position_after(pos, text, encoding)
  local lines = vim.split(text, "\n", { plain = true })
  local last = units(lines[#lines], encoding)
  if #lines == 1 then
    return { line = pos.line, character = pos.character + last }
  end
  return { line = pos.line + #lines - 1, character = last }
end

--- Byte column of LSP position `pos` (in `encoding`) on its line; nil when it is past the line.
---@param bufnr integer
---@param pos lsp.Position
---@param encoding string
---@return integer? row, integer? col
function M.byte_position(bufnr, pos, encoding)
  if pos.line < 0 or pos.line >= vim.api.nvim_buf_line_count(bufnr) then
    return nil
  end
  local text = M.line_text(bufnr, pos.line)
  if pos.character < 0 or pos.character > M.lsp_position(bufnr, pos.line, #text, encoding).character then
    return nil
  end
  local ok, col
  if vim.fn.has("nvim-0.11") == 1 then
    ok, col = pcall(vim.str_byteindex, text, encoding, pos.character, false)
  elseif encoding == "utf-8" then
    ok, col = true, pos.character
  else
    ok, col = pcall(vim.str_byteindex, text, pos.character, encoding == "utf-16")
  end
  if not ok or not col or col > #text then
    return nil
  end
  return pos.line, col
end

--- The text of LSP range `range` of `bufnr`, or nil when the range is not in the buffer.
---@param bufnr integer
---@param range lsp.Range
---@param encoding string
---@return string?
function M.text_in(bufnr, range, encoding)
  local srow, scol = M.byte_position(bufnr, range.start, encoding)
  local erow, ecol = M.byte_position(bufnr, range["end"], encoding)
  if not srow or not erow or srow > erow or (srow == erow and scol > ecol) then
    return nil
  end
  local ok, lines = pcall(vim.api.nvim_buf_get_text, bufnr, srow, scol, erow, ecol, {})
  return ok and table.concat(lines, "\n") or nil
end

--- Last/first `n` characters of `s`.
local function tail_chars(s, n)
  local len = vim.fn.strchars(s)
  return len <= n and s or vim.fn.strcharpart(s, len - n)
end
local function head_chars(s, n)
  return vim.fn.strchars(s) <= n and s or vim.fn.strcharpart(s, 0, n)
end

---@type table<integer, {tick: integer, list: string[]}>
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

--- TextContext for the server: text before the start and after the end (byte positions, 0-based
--- rows), the languageId, identifiers.
---@param bufnr integer
---@param srow integer
---@param scol integer
---@param erow integer
---@param ecol integer
---@return swictation.TextContext
function M.build(bufnr, srow, scol, erow, ecol)
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
  ctx.languageId = M.language_id(bufnr)
  if M.is_terminal(bufnr) then
    -- The command line being typed: the cursor's line up to the cursor (past its end: blanks the
    -- terminal trimmed). What the terminal shows after it, or on other lines, is output.
    local line = M.line_text(bufnr, srow)
    ctx.before = tail_chars(scol > #line and (line .. (" "):rep(scol - #line)) or line:sub(1, scol), n)
    ctx.after = ""
    return ctx
  end
  if opts.identifiers then
    local ids = identifiers(bufnr, srow, opts.max_identifiers)
    if #ids > 0 then
      ctx.identifiers = ids
    end
  end
  return ctx
end

return M
