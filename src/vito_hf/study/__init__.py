"""A controlled small-scale study of the paper's claim: does temporal contrast beat image contrast?"""
