---@mod swictation.log Messages: what is shown, at which severity, and the :SwictationLog buffer
---
--- The severity policy lives here and only here (like conform.nvim's errors.lua): every message
--- goes to the in-memory log; those at or above `notify_level` are also shown with vim.notify.

local M = {}

local levels = vim.log.levels
local names = { [0] = "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF" }

---@type string[]
M.lines = {}
local MAX_LINES = 2000

--- Server error kinds (errors.py KIND) that are the user's timing rather than a failure.
local WARN_KINDS = {
  ["already-listening"] = true,
  ["no-active-session"] = true,
  ["engine-loading"] = true,
  ["utterance-not-found"] = true,
}

--- LSP MessageType (1 error .. 4 log) to vim.log.levels.
local LSP_LEVELS = { levels.ERROR, levels.WARN, levels.INFO, levels.DEBUG, levels.DEBUG }

local function append(level, msg)
  local stamp = os.date("%H:%M:%S")
  for i, line in ipairs(vim.split(msg, "\n", { plain = true })) do
    M.lines[#M.lines + 1] = (i == 1 and ("%s %-5s %s"):format(stamp, names[level] or "?", line))
      or ("               " .. line)
  end
  if #M.lines > MAX_LINES then
    M.lines = vim.list_slice(M.lines, #M.lines - MAX_LINES + 1)
  end
end

---@param level integer vim.log.levels.*
---@param msg string
---@param opts? {title?: string, log_only?: boolean}
function M.notify(level, msg, opts)
  opts = opts or {}
  append(level, msg)
  local threshold = require("swictation.config").options.notify_level or levels.INFO
  if opts.log_only or level < threshold then
    return
  end
  local text = "swictation: " .. msg
  if vim.in_fast_event() then
    vim.schedule(function()
      vim.notify(text, level, { title = opts.title or "swictation" })
    end)
  else
    vim.notify(text, level, { title = opts.title or "swictation" })
  end
end

--- Announce inserted text (`signals.announce`): vim.notify at that level, whatever
--- `notify_level` says (it is its own switch), so a screen reader or a notifier reads it out.
--- Also in the log. Nothing when `signals.announce` is false or the text is empty.
---@param text string what went in
---@param where? string e.g. "to the terminal"
function M.announce(text, where)
  local level = vim.tbl_get(require("swictation.config").options, "signals", "announce")
  -- Line breaks (a spoken "new line", "press enter") are shown, not dropped.
  text = (text or ""):gsub("^[ \t]+", ""):gsub("[ \t]+$", ""):gsub("\r?\n", "⏎")
  if type(level) ~= "number" or text == "" then
    return
  end
  local msg = ("Swictation: %s “%s”"):format(where and ("sent " .. where) or "inserted", text)
  append(level, msg)
  if vim.in_fast_event() then
    vim.schedule(function()
      vim.notify(msg, level, { title = "swictation" })
    end)
  else
    vim.notify(msg, level, { title = "swictation" })
  end
end

function M.error(msg, opts)
  M.notify(levels.ERROR, msg, opts)
end
function M.warn(msg, opts)
  M.notify(levels.WARN, msg, opts)
end
function M.info(msg, opts)
  M.notify(levels.INFO, msg, opts)
end
function M.debug(msg)
  M.notify(levels.DEBUG, msg, { log_only = true })
end

--- The text of a JSON-RPC error from the server: its message and, when it has one, its remedy.
---@param err table|string lsp.ResponseError
---@return string text, string? kind
function M.format_rpc_error(err)
  if type(err) ~= "table" then
    return tostring(err), nil
  end
  local data = type(err.data) == "table" and err.data or {}
  local text = tostring(err.message or "request failed")
  if type(data.remedy) == "string" and data.remedy ~= "" and not text:find(data.remedy, 1, true) then
    text = text:gsub("[%.%s]*$", "") .. ". " .. data.remedy
  end
  return text, data.kind
end

--- Report a failed request once, at the severity its kind deserves.
---@param what string what was being done, e.g. "Transcribe"
---@param err table|string
function M.rpc_error(what, err)
  local text, kind = M.format_rpc_error(err)
  local level = WARN_KINDS[kind] and levels.WARN or levels.ERROR
  M.notify(level, ("%s: %s"):format(what, text))
end

--- How many window/showMessage the server sent: a result that inserts nothing says "no speech
--- recognised" only if the server did not already say something meanwhile (a refused "scratch that").
M.server_shown = 0

--- window/showMessage and window/logMessage from the server. Its messages for the user already
--- begin with "Swictation:"; they are shown with one prefix ("swictation: …"), not two.
---@param params {type: integer, message: string}
---@param shown boolean showMessage (true) or logMessage (false)
function M.from_server(params, shown)
  local level = LSP_LEVELS[params.type] or levels.INFO
  local msg = tostring(params.message)
  if shown then
    M.server_shown = M.server_shown + 1
  end
  if shown and M.server_filter then
    local replaced, rlevel = M.server_filter(msg)
    if replaced then
      if replaced ~= "" then
        M.notify(rlevel or level, replaced)
      end
      M.notify(level, "server: " .. msg, { log_only = true })
      return
    end
  end
  M.notify(level, msg:match("^[Ss]wictation:%s*(.*)$") or ("server: " .. msg), { log_only = not shown })
end

--- Set by dictation.lua: a message of the server to show in other words (nil: as it is).
---@type (fun(msg: string): string?, integer?)?
M.server_filter = nil

--- What the server wrote to stderr, from Neovim's LSP log (where vim.lsp puts it).
---@param exe string cmd[1] of the server
---@param since? string only lines logged at or after this "%Y-%m-%d %H:%M:%S" time
---@param max_lines? integer
---@return string[]
function M.server_stderr(exe, since, max_lines)
  local path = vim.lsp.get_log_path()
  local f = io.open(path, "rb")
  if not f then
    return {}
  end
  local size = f:seek("end")
  f:seek("set", math.max(0, size - 256 * 1024))
  local data = f:read("*a") or ""
  f:close()
  local quoted = vim.inspect(exe)
  local out = {}
  for line in data:gmatch("[^\n]+") do
    local stamp = line:match("^%[%u+%]%[([%d%- :]+)%]")
    local chunk = line:match('\t"stderr"\t(".*")$')
    if chunk and stamp and (not since or stamp >= since) and line:find(quoted, 1, true) then
      local fn = load("return " .. chunk, "stderr", "t", {})
      local ok, text = pcall(fn or error)
      if ok and type(text) == "string" then
        for l in text:gmatch("[^\n]+") do
          out[#out + 1] = l
        end
      end
    end
  end
  if max_lines and #out > max_lines then
    out = vim.list_slice(out, #out - max_lines + 1)
  end
  return out
end

--- The last stderr line that is not a routine log record (Python logging's INFO/DEBUG lines).
---@param lines string[]
---@return string?
function M.last_problem(lines)
  for i = #lines, 1, -1 do
    local line = vim.trim(lines[i])
    local level = line:match("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d[,.%d]* (%u+) ") or line:match("^(%u+) [%w_.]+: ")
    if line ~= "" and level ~= "INFO" and level ~= "DEBUG" then
      return line
    end
  end
end

--- Open the log in a scratch buffer (:SwictationLog).
---@param header string[] lines shown above the log (server log file, command)
function M.open(header)
  local name = "swictation://log"
  local bufnr = vim.fn.bufnr(name)
  if bufnr == -1 then
    bufnr = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(bufnr, name)
    vim.bo[bufnr].bufhidden = "hide"
    vim.bo[bufnr].swapfile = false
    vim.bo[bufnr].filetype = "swictationlog"
  end
  local text = vim.list_extend(vim.list_extend({}, header), M.lines)
  vim.bo[bufnr].modifiable = true
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, text)
  vim.bo[bufnr].modifiable = false
  vim.bo[bufnr].modified = false
  local win = vim.fn.bufwinid(bufnr)
  if win == -1 then
    vim.cmd("botright split")
    vim.api.nvim_win_set_buf(0, bufnr)
  else
    vim.api.nvim_set_current_win(win)
  end
  vim.cmd("normal! G")
  return bufnr
end

return M
