process.env.POSTERN_TEST_DB = 'sqlite';
