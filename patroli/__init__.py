"""patroli"""
