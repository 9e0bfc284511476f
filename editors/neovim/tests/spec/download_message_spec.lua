-- Issue 14 (outside-14 F2): the message a finished :SwictationModels download shows says whether
-- the engine serves the model (downloadModel's `serving`), or why it cannot (`problem`), never
-- "the engine reloaded and serves it" for a model the engine retired. Pure: no server.
local t = require("swictation_test")
local it, eq = t.it, t.eq

local models = require("swictation.models")
local WARN, INFO = vim.log.levels.WARN, vim.log.levels.INFO

local base = { name = "parakeet-tdt-110m", path = "/d/models/parakeet-tdt-110m", reloaded = true }

it("a model the engine does not serve is a warning with the engine's reason", function()
  local problem =
    "Model parakeet-tdt-110m produced no text on its check clip (a known speech sample): it cannot transcribe."
  local level, text = models.download_message(vim.tbl_extend("force", base, { serving = {}, problem = problem }), "x")
  eq(WARN, level)
  eq("installed parakeet-tdt-110m in /d/models/parakeet-tdt-110m, but it cannot serve yet: " .. problem, text)
end)

it("a model the engine serves names the modes that use it", function()
  local level, text =
    models.download_message(vim.tbl_extend("force", base, { serving = { "fast" }, problem = vim.NIL }), "x")
  eq(INFO, level)
  eq("installed parakeet-tdt-110m in /d/models/parakeet-tdt-110m; the fast mode uses it now", text)
  local _, both = models.download_message(vim.tbl_extend("force", base, { serving = { "fast", "accurate" } }), "x")
  eq("installed parakeet-tdt-110m in /d/models/parakeet-tdt-110m; the fast and accurate modes use it now", both)
end)

it("a model no mode uses (or an older server's result) is installed, with no claim that it serves", function()
  local level, text = models.download_message(base, "x")
  eq(INFO, level)
  eq("installed parakeet-tdt-110m in /d/models/parakeet-tdt-110m", text)
end)
