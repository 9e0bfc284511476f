---@mod swictation.status What the server is doing, for statuslines
---
--- `require("swictation").status()` returns a short string ("swictation: listening"), empty while
--- no server runs. Every change fires `User SwictationStatus` (data = status table), so
--- statusline plugins can refresh:
---
---   vim.api.nvim_create_autocmd("User", { pattern = "SwictationStatus", command = "redrawstatus" })

local M = {}

---@alias swictation.State "stopped"|"starting"|"loading"|"idle"|"listening"|"transcribing"|"error"|"failed"

---@class swictation.Status
---@field state swictation.State
---@field reason string? why, for "error" and "failed" (and "idle" after an auto-stop)
---@field session_id string?
local current = { state = "stopped" }

---@return swictation.Status
function M.get()
  return vim.deepcopy(current)
end

---@param state swictation.State
---@param extra? {reason?: string, session_id?: string}
function M.set(state, extra)
  extra = extra or {}
  local changed = current.state ~= state or current.reason ~= extra.reason
  current = { state = state, reason = extra.reason, session_id = extra.session_id }
  if not changed then
    return
  end
  vim.schedule(function()
    pcall(vim.api.nvim_exec_autocmds, "User", {
      pattern = "SwictationStatus",
      modeline = false,
      data = M.get(),
    })
    pcall(vim.cmd.redrawstatus)
  end)
end

--- The statusline text: prefix .. label of the current state ("" when the label is empty).
---@return string
function M.statusline()
  local opts = require("swictation.config").options.status
  local label = opts.labels[current.state]
  if label == nil then
    label = current.state
  end
  if label == "" then
    return ""
  end
  return opts.prefix .. label
end

return M
