# Tests of plan/observe/QFloat/freeze and Q==QFloat. Owner: QS.
