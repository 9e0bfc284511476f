---@mod swictation.models :SwictationModels: list, download (with progress, cancellable), remove
---
--- Over the server's `swictation/models`, `swictation/downloadModel` and `swictation/removeModel`.
--- A download sends a workDoneToken; the server's `$/progress` for it (begin, report with a
--- percentage, end) becomes vim.notify messages (at most one a second) and `:SwictationModels
--- cancel` sends window/workDoneProgress/cancel for it. Each action ends with
--- `User SwictationModelsDone`, data = { action, ok, name?, result?, error? }.

local client = require("swictation.client")
local log = require("swictation.log")

local protocol = require("swictation.protocol")
local M = {}

--- At most one progress message per this many ms through vim.notify (all of them are logged).
M.NOTIFY_INTERVAL_MS = 1000

--- Model names from the last list, for completion.
---@type string[]
M.names = {}

---@class swictation.Download
---@field name string
---@field token string
---@field cancelled boolean?
---@field progress table[] the `$/progress` values received, in order
---@field finished boolean? the end was reported

---@type swictation.Download?
M.download_job = nil

local counter = 0
local TITLE = { title = "swictation models" }

local function done(data)
  vim.api.nvim_exec_autocmds("User", { pattern = "SwictationModelsDone", modeline = false, data = data })
end

--- Report a failed request; strings mean the server could not be reached (client.lua said why).
local function failed(action, what, err, name)
  if type(err) == "string" then
    log.debug(("%s: %s"):format(what, err))
  else
    log.rpc_error(what, err)
  end
  done({ action = action, ok = false, name = name, error = (log.format_rpc_error(err)) })
end

---@param bytes number
---@return string
function M.format_size(bytes)
  local units = { "B", "KB", "MB", "GB", "TB" }
  local i = 1
  while bytes >= 1000 and i < #units do
    bytes = bytes / 1000
    i = i + 1
  end
  return i == 1 and ("%d B"):format(bytes) or ("%.1f %s"):format(bytes, units[i])
end

---@param info swictation.ModelInfo
local function size_of(info)
  if type(info.size) == "number" then
    return M.format_size(info.size)
  end
  if type(info.approxSize) == "string" then
    return info.approxSize
  end
  return "size unknown"
end

local function str(v)
  return type(v) == "string" and v or nil
end

--- What fixes a mode's model problem: the download command for a catalogue model (again, with
--- !, when it is installed but broken), else where to point the setting.
---@param mode swictation.ModeModel
---@param by_name table<string, swictation.ModelInfo>
---@return string?
function M.fix_for(mode, by_name)
  if not str(mode.problem) then
    return nil
  end
  local info = by_name[mode.model]
  if info and info.inCatalogue then
    return (":SwictationModels%s download %s"):format(info.installed and "!" or "", mode.model)
  end
  return ("point settings.models.%s at an installed model folder or a catalogue name (:SwictationModels lists them)"):format(
    mode.mode
  )
end

--- One line per mode: the model it uses, and its problem with the fix.
---@param result swictation.ModelsResult
---@return {text: string, problem: boolean}[]
---@param serving? table<string, string> the model that serves each mode now (from the
--- `swictation/status` answer's engine.models), to say what serves a mode meanwhile
function M.mode_lines(result, serving)
  local by_name = {}
  for _, info in ipairs(result.models or {}) do
    by_name[info.name] = info
  end
  local out = {}
  for _, mode in ipairs(result.modes or {}) do
    local problem = str(mode.problem)
    local text
    if problem then
      text = ("%s mode: %s: %s. Fix: %s"):format(
        mode.mode,
        mode.model,
        (problem:gsub("[%.%s]+$", "")),
        M.fix_for(mode, by_name)
      )
      local other = serving and serving[mode.mode]
      if other and other ~= mode.model then
        text = text .. (". Meanwhile %s serves %s mode, so dictation works"):format(other, mode.mode)
      end
    else
      local info = by_name[mode.model]
      local serves = info and vim.tbl_contains(info.serving or {}, mode.mode)
      text = ("%s mode: %s (installed%s)"):format(mode.mode, mode.model, serves and ", serving" or "")
    end
    out[#out + 1] = { text = text, problem = problem ~= nil }
  end
  return out
end

--- The list as lines: each model with installed/size/roles, then what each mode uses.
---@param result swictation.ModelsResult
---@return string[]
function M.lines(result)
  local lines = { ("models in %s:"):format(tostring(result.modelsDir)) }
  local width = 0
  for _, info in ipairs(result.models or {}) do
    width = math.max(width, #info.name)
  end
  for _, info in ipairs(result.models or {}) do
    local state = info.installed and (str(info.problem) and "broken" or "installed") or "not installed"
    local roles = #(info.roles or {}) > 0 and ("role: " .. table.concat(info.roles, ", ")) or "no role"
    local line = ("  %-" .. width .. "s  %-13s  %-10s  %s"):format(info.name, state, size_of(info), roles)
    if #(info.serving or {}) > 0 then
      line = line .. "; serving " .. table.concat(info.serving, ", ")
    end
    if str(info.problem) then
      line = line .. " (" .. info.problem .. ")"
    end
    lines[#lines + 1] = line
  end
  for _, l in ipairs(M.mode_lines(result)) do
    lines[#lines + 1] = l.text
  end
  lines[#lines + 1] = ":SwictationModels download NAME installs one, :SwictationModels remove NAME removes one"
  return lines
end

--- `swictation/models`; `cb(err, result)`.
---@param cb fun(err: table|string|nil, result: swictation.ModelsResult?)
function M.fetch(cb)
  client.request(protocol.MODELS, vim.empty_dict(), function(err, result)
    if not err and type(result) == "table" then
      M.names = vim.tbl_map(function(info)
        return info.name
      end, result.models or {})
    end
    cb(err, result)
  end)
end

--- :SwictationModels: the list, through vim.notify.
function M.list()
  M.fetch(function(err, result)
    if err or not result then
      failed("list", "Models", err or "no result")
      return
    end
    local problem = vim.iter(M.mode_lines(result)):any(function(l)
      return l.problem
    end)
    log.notify(problem and vim.log.levels.WARN or vim.log.levels.INFO, table.concat(M.lines(result), "\n"), TITLE)
    done({ action = "list", ok = true, result = result })
  end)
end

--- The end of a download, once (the answer and a cancelled download's `end` can both say so).
local function finish_download(job, fn)
  if job.finished then
    return
  end
  job.finished = true
  client.progress_handlers[job.token] = nil
  if M.download_job == job then
    M.download_job = nil
  end
  fn()
end

local function cancelled(job, text)
  finish_download(job, function()
    log.warn(
      ("%s; nothing was installed (:SwictationModels download %s resumes it)"):format(
        (text:gsub("[%.%s]+$", "")),
        job.name
      ),
      TITLE
    )
    done({ action = "download", ok = false, name = job.name, cancelled = true, error = text })
  end)
end

local function on_progress(job, value)
  if type(value) ~= "table" then
    return
  end
  job.progress[#job.progress + 1] = value
  local pct = type(value.percentage) == "number" and ("%d%%"):format(value.percentage) or nil
  local text = table.concat(
    vim.tbl_filter(function(s)
      return s ~= nil and s ~= ""
    end, { pct, str(value.message) }),
    " "
  )
  local msg = ("downloading %s%s"):format(job.name, text ~= "" and (": " .. text) or "")
  local now = vim.uv.now()
  if value.kind == "begin" then
    job.shown = now
    log.info(msg, TITLE)
  elseif value.kind == "report" then
    if not job.shown or now - job.shown >= M.NOTIFY_INTERVAL_MS then
      job.shown = now
      log.info(msg, TITLE)
    else
      log.notify(vim.log.levels.INFO, msg, { log_only = true })
    end
  else
    log.notify(vim.log.levels.INFO, ("download of %s: %s"):format(job.name, str(value.message) or "ended"), {
      log_only = true,
    })
    -- Neovim's RPC client drops the answer to a cancelled request (error -32800, "cancellation
    -- ack"), so a cancelled download ends here, on its progress `end`.
    local message = str(value.message) or ""
    if job.cancelled and not message:find("^Installed") then
      cancelled(job, ("Download of %s cancelled"):format(job.name))
    end
  end
end

--- What a finished download says, truthfully: whether the engine serves the model now (the
--- result's `serving`), or why it cannot (`problem`: it failed the engine's check clip, the reload
--- failed), as a warning.
---@param result swictation.DownloadModelResult
---@param name string
---@return integer level, string text
function M.download_message(result, name)
  local where = ("%s in %s"):format(result.name or name, tostring(result.path))
  local problem = str(result.problem)
  if problem then
    return vim.log.levels.WARN, ("installed %s, but it cannot serve yet: %s"):format(where, vim.trim(problem))
  end
  local serving = type(result.serving) == "table" and result.serving or {}
  if #serving == 1 then
    return vim.log.levels.INFO, ("installed %s; the %s mode uses it now"):format(where, serving[1])
  elseif #serving > 1 then
    return vim.log.levels.INFO, ("installed %s; the %s modes use it now"):format(where, table.concat(serving, " and "))
  end
  return vim.log.levels.INFO, ("installed %s"):format(where)
end

--- :SwictationModels download NAME (force: :SwictationModels! download NAME, again over an
--- installed one).
---@param name string
---@param opts? {force?: boolean}
function M.download(name, opts)
  opts = opts or {}
  if not name or name == "" then
    log.error("a model name is needed: :SwictationModels download NAME (:SwictationModels lists them)")
    done({ action = "download", ok = false, error = "no model name" })
    return
  end
  if M.download_job then
    log.warn(("the download of %s is still running; :SwictationModels cancel stops it"):format(M.download_job.name))
    done({ action = "download", ok = false, name = name, error = "a download is running" })
    return
  end
  counter = counter + 1
  ---@type swictation.Download
  local job = { name = name, token = ("swictation-download-%d-%d"):format(vim.fn.getpid(), counter), progress = {} }
  M.download_job = job
  client.progress_handlers[job.token] = function(value)
    on_progress(job, value)
  end
  local params = { name = name, workDoneToken = job.token }
  if opts.force then
    params.force = true
  end
  client.request(protocol.DOWNLOAD_MODEL, params, function(err, result)
    if err or not result then
      if type(err) == "table" and (err.code == -32800 or job.cancelled) then
        cancelled(job, (log.format_rpc_error(err)))
        return
      end
      finish_download(job, function()
        failed("download", "Download " .. name, err or "no result", name)
      end)
      return
    end
    finish_download(job, function()
      local level, text = M.download_message(result, name)
      log.notify(level, text, TITLE)
      done({ action = "download", ok = true, name = name, result = result, progress = job.progress })
    end)
  end)
end

--- :SwictationModels cancel: stop the running download (window/workDoneProgress/cancel).
function M.cancel()
  local job = M.download_job
  if not job then
    log.info("no model download is running")
    done({ action = "cancel", ok = false, error = "no download" })
    return
  end
  job.cancelled = true
  client.notify("window/workDoneProgress/cancel", { token = job.token })
  log.info(("cancelling the download of %s"):format(job.name), TITLE)
  done({ action = "cancel", ok = true, name = job.name })
end

--- :SwictationModels remove NAME
---@param name string
function M.remove(name)
  if not name or name == "" then
    log.error("a model name is needed: :SwictationModels remove NAME (:SwictationModels lists them)")
    done({ action = "remove", ok = false, error = "no model name" })
    return
  end
  client.request(protocol.REMOVE_MODEL, { name = name }, function(err, result)
    if err or not result then
      failed("remove", "Remove " .. name, err or "no result", name)
      return
    end
    if result.removed then
      log.info(("removed %s"):format(name), TITLE)
    else
      log.warn(("%s was not installed: nothing removed"):format(name), TITLE)
    end
    done({ action = "remove", ok = true, name = name, result = result })
  end)
end

M.SUBCOMMANDS = { "list", "download", "remove", "cancel" }

--- :SwictationModels [list | download NAME | remove NAME | cancel]
---@param args string[]
---@param bang boolean
function M.command(args, bang)
  local sub = args[1] or "list"
  if sub == "list" then
    M.list()
  elseif sub == "download" then
    M.download(args[2], { force = bang })
  elseif sub == "remove" then
    M.remove(args[2])
  elseif sub == "cancel" then
    M.cancel()
  else
    log.error(("unknown :SwictationModels subcommand %q: use list, download NAME, remove NAME or cancel"):format(sub))
  end
end

--- Completion for :SwictationModels.
function M.complete(arglead, cmdline)
  local words = vim.split(cmdline, "%s+", { trimempty = true })
  local n = #words + (cmdline:match("%s$") and 1 or 0)
  local pool
  if n <= 2 then
    pool = M.SUBCOMMANDS
  elseif words[2] == "download" or words[2] == "remove" then
    pool = M.names
  else
    pool = {}
  end
  return vim.tbl_filter(function(c)
    return vim.startswith(c, arglead)
  end, pool)
end

return M
