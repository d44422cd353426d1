guests:
	@mkdir -p $(BUILD)/guests
